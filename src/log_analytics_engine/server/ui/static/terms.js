// Query text as the search view edits and reads it: the plain words and phrases of a filter (to
// highlight them in messages) and `field:"value"` clauses added from the fields sidebar.

const WORD = "[\\p{L}\\p{N}_]";
const KEYWORDS = new Set(["AND", "OR", "NOT"]);

/** Where the quoted text starting at `at` ends (just past its closing quote). */
function skipQuoted(text, at) {
  let j = at + 1;
  while (j < text.length && text[j] !== text[at]) j += text[j] === "\\" ? 2 : 1;
  return j + 1;
}

/** Tokens of filter text: words (with a field's quoted or bracketed value attached), quoted
 * phrases and parentheses. Approximate on purpose: the server parses; this only finds words. */
function tokens(text) {
  const out = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) i += 1;
    else if (c === "(" || c === ")") {
      out.push({ kind: c });
      i += 1;
    } else if (c === '"' || c === "'") {
      const end = skipQuoted(text, i);
      out.push({ kind: "phrase", text: unquote(text.slice(i + 1, end - 1)) });
      i = end;
    } else {
      let j = i;
      let depth = 0;
      while (j < text.length) {
        const d = text[j];
        if (d === '"' || d === "'") {
          j = skipQuoted(text, j);
          continue;
        }
        if (depth === 0 && /\s/.test(d)) break;
        if (d === "(" || d === "[") {
          if (depth === 0 && !text.slice(i, j).includes(":")) break;
          depth += 1;
        } else if (d === ")" || d === "]") {
          if (depth === 0) break;
          depth -= 1;
        }
        j += 1;
      }
      out.push({ kind: "word", text: text.slice(i, j) });
      i = Math.max(j, i + 1);
    }
  }
  return out;
}

const unquote = (body) => body.replace(/\\(.)/g, "$1");

/** The words and phrases a filter looks for in the message, skipping negated terms, field
 * clauses, regexes and keywords: [{text, prefix}]. */
export function messageTerms(query) {
  const found = [];
  let negateNext = false;
  for (const token of tokens(query.split("|")[0])) {
    if (token.kind === "(" || token.kind === ")") {
      negateNext = false;
      continue;
    }
    if (token.kind === "word" && KEYWORDS.has(token.text.toUpperCase())) {
      negateNext = token.text === "NOT";
      continue;
    }
    const negated = negateNext || (token.kind === "word" && /^[-!]/.test(token.text));
    negateNext = false;
    if (negated) continue;
    if (token.kind === "phrase") {
      if (token.text.trim()) found.push({ text: token.text, prefix: false });
      continue;
    }
    const word = token.text;
    if (word.includes(":") || word.startsWith("~") || word === "*") continue;
    const prefix = word.endsWith("*");
    const body = prefix ? word.slice(0, -1) : word;
    if (!body.includes("*") && body) found.push({ text: body, prefix });
  }
  return found;
}

const escapeRegex = (text) => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

/** A regex finding the terms as whole tokens, any case (`db-1` finds "db 1"), or null. */
export function termsRegex(terms) {
  const parts = [];
  for (const term of terms) {
    const words = term.text.split(new RegExp(`[^\\p{L}\\p{N}_]+`, "u")).filter(Boolean);
    if (!words.length) continue;
    const body = words.map(escapeRegex).join(`[^\\p{L}\\p{N}_]+`);
    parts.push(`(?<!${WORD})${body}${term.prefix ? `[\\p{L}\\p{N}_-]*` : `(?!${WORD})`}`);
  }
  return parts.length ? new RegExp(parts.join("|"), "giu") : null;
}

/** `text` as nodes with each match of `regex` in a <mark> (text nodes only: log text is never HTML). */
export function highlighted(text, regex) {
  const fragment = document.createDocumentFragment();
  if (!regex) {
    fragment.append(text);
    return fragment;
  }
  let at = 0;
  for (const match of text.matchAll(regex)) {
    if (!match[0]) continue;
    if (match.index > at) fragment.append(text.slice(at, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    fragment.append(mark);
    at = match.index + match[0].length;
  }
  if (at < text.length) fragment.append(text.slice(at));
  return fragment;
}

/** A value as query text: text in double quotes (`"` and `\` escaped), numbers and booleans bare. */
export function quoteValue(value) {
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return `"${String(value).replace(/[\\"]/g, "\\$&")}"`;
}

/** `query` (a field's query text) selecting `value`, or its negation. */
export const fieldClause = (query, value, negate = false) => `${negate ? "-" : ""}${query}:${quoteValue(value)}`;

/** `q` narrowed by `clause` (an OR query is grouped first so the clause applies to all of it). */
export function addClause(q, clause) {
  const text = q.trim();
  if (!text || text === "*") return clause;
  return /\bor\b/i.test(text) ? `(${text}) ${clause}` : `${text} ${clause}`; // or: any case, as the parser reads it
}

// CSV of a table (RFC 4180: CRLF line ends; a field holding a comma, quote, CR or LF is quoted, its
// quotes doubled) and its download as a file, built in the page (Blob + object URL + <a download>).

/** One field as CSV: objects and lists as JSON, null and undefined empty. Text that a spreadsheet
 * would run as a formula (starting with =, +, -, @, tab or CR: log text is anyone's) gets a leading
 * `'`, as OWASP advises; numbers stay as they are. */
function field(value) {
  if (value === null || value === undefined) return "";
  let text = typeof value === "object" ? JSON.stringify(value) : String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** CSV text of `rows` (arrays of values) under a header of `columns`. */
export const toCsv = (columns, rows) => [columns, ...rows].map((row) => row.map(field).join(",")).join("\r\n") + "\r\n";

/** Let the browser save `text` as `filename`. */
export function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file name for a download made now: `logs-20250721-120000.csv`. */
export const csvName = (what) => `${what}-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-")}.csv`;

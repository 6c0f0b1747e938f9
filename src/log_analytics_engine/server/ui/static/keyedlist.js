// Keeps a container's children in step with a keyed list of items, reusing the element of each key and
// moving none that is already in place: a refresh redraws a list without losing focus or an expanded
// row. Children the list did not make (a table's <thead>) stay where they are, before the items.

/**
 * Make the elements of `items`, in order, `container`'s children after any it does not manage.
 * `elements` maps key → element across calls; `create(item)` builds one, `update(element, item)`
 * refreshes one in place.
 */
export function reconcile(container, elements, items, keyOf, create, update) {
  const wanted = new Map(items.map((item) => [keyOf(item), item]));
  for (const [key, element] of elements) {
    if (!wanted.has(key)) {
      element.remove();
      elements.delete(key);
    }
  }
  const managed = new Set(elements.values());
  let cursor = container.firstElementChild;
  while (cursor && !managed.has(cursor)) cursor = cursor.nextElementSibling;
  for (const [key, item] of wanted) {
    let element = elements.get(key);
    if (element) update(element, item);
    else {
      element = create(item);
      elements.set(key, element);
    }
    if (element === cursor) cursor = cursor.nextElementSibling;
    else container.insertBefore(element, cursor);
  }
}

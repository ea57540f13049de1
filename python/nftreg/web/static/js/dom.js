// The only way this app builds DOM: values become text nodes or attributes, never markup.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (typeof v === "boolean" || typeof v === "number" && k in el) el[k] = v;
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A <dl> of [label, value] rows; a value may be a Node (e.g. a link) or text. */
export function details(rows, props = {}) {
  return h("dl", { class: "details", ...props }, rows.filter((r) => r && r[1] !== null && r[1] !== undefined).map(([label, value, attrs]) => [
    h("dt", {}, label),
    h("dd", attrs || {}, value),
  ]));
}

/** Offer `blob` as a download named `name`. */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

/** A tiny element builder: h("button", {className: "x", dataset: {action: "undo"}}, "Undo"). */

type Attrs = {
  [name: string]: unknown;
  className?: string;
  dataset?: Record<string, string | number | undefined>;
  on?: Record<string, (event: Event) => void>;
};

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined | false)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "className") el.className = String(value);
    else if (name === "dataset") {
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (v !== undefined && v !== null) el.dataset[k] = String(v);
      }
    } else if (name === "on") {
      for (const [event, fn] of Object.entries(value as Record<string, (e: Event) => void>)) {
        el.addEventListener(event, fn);
      }
    } else if (name === "value" && el instanceof HTMLTextAreaElement) {
      // A textarea's text is its content: a "value" attribute would show nothing.
      el.textContent = String(value);
    } else if (name in el && typeof value !== "string") {
      (el as unknown as Record<string, unknown>)[name] = value;
    } else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

/** A <select> with an empty choice first; `label` names the empty choice. */
export function select(
  name: string,
  values: string[],
  current: string,
  onChange: (value: string) => void,
  options: { label?: string; titles?: Record<string, string> } = {},
): HTMLSelectElement {
  const el = h("select", { name, "aria-label": name.replace(/_/g, " ") });
  el.append(h("option", { value: "" }, options.label ?? "—"));
  for (const value of values) {
    el.append(h("option", { value }, options.titles?.[value] ?? humanize(value)));
  }
  if (current && !values.includes(current)) el.append(h("option", { value: current }, current));
  el.value = current;
  el.addEventListener("change", () => onChange(el.value));
  return el;
}

export function humanize(value: string): string {
  return value.replace(/_/g, " ");
}

/** The keyboard map of a page: one place registers every shortcut with a description, so the
 * help overlay ("?") lists exactly what works. Keys typed into form fields are left alone
 * (except Escape); a select keeps its own arrow keys.
 *
 * Combos are written "n", "?", "Ctrl+Z", "Ctrl+Shift+Z", "Delete", "ArrowLeft". Ctrl also
 * matches the Meta (Cmd) key. Shift is implied by printable characters ("?" not "Shift+/").
 */

export interface Shortcut {
  keys: string | string[];
  description: string;
  group?: string;
  run: (event: KeyboardEvent) => void;
  /** Also when the focus is in a form field (text input, select, textarea). */
  inFields?: boolean;
}

/** The combo string of a key event, in the same spelling as Shortcut.keys. */
export function comboOf(event: KeyboardEvent): string {
  const mods: string[] = [];
  if (event.ctrlKey || event.metaKey) mods.push("Ctrl");
  if (event.altKey) mods.push("Alt");
  let key = event.key;
  if (key === " ") key = "Space";
  const printable = key.length === 1;
  if (event.shiftKey && (!printable || mods.length > 0)) mods.push("Shift");
  if (printable) key = key.toLowerCase() === key.toUpperCase() ? key : key.toLowerCase();
  return [...mods, key].join("+");
}

function normalize(combo: string): string {
  const parts = combo.split("+");
  const key = parts.pop() ?? "";
  const mods = ["Ctrl", "Alt", "Shift"].filter((m) => parts.some((p) => p.toLowerCase() === m.toLowerCase()));
  return [...mods, key.length === 1 ? key.toLowerCase() : key].join("+");
}

function inField(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  if (el.isContentEditable) return true;
  if (el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
  if (el.tagName !== "INPUT") return false;
  const type = (el as HTMLInputElement).type;
  return !["checkbox", "radio", "button", "range", "submit"].includes(type);
}

export class Shortcuts {
  private readonly map = new Map<string, Shortcut>();
  private readonly list: Shortcut[] = [];
  private overlay: HTMLElement | null = null;
  private detach: (() => void) | null = null;
  private readonly detachFirst: (() => void)[] = [];

  constructor(private readonly doc: Document = document) {
    this.add({
      keys: "?",
      description: "Show or hide this list of shortcuts",
      group: "Help",
      run: () => this.toggleHelp(),
    });
    this.add({
      keys: "Escape",
      description: "Close this list / leave the field",
      group: "Help",
      inFields: true,
      run: (event) => {
        if (this.overlay) this.toggleHelp(false);
        else if (inField(event.target)) (event.target as HTMLElement).blur();
      },
    });
  }

  /** Register a shortcut; a later one with the same combo replaces the earlier. */
  add(shortcut: Shortcut): this {
    for (const combo of ([] as string[]).concat(shortcut.keys)) {
      const previous = this.map.get(normalize(combo));
      // A shortcut of several keys is met once per key: remove it once (indexOf -1 would
      // remove the last shortcut of the list instead).
      const at = previous ? this.list.indexOf(previous) : -1;
      if (at >= 0) this.list.splice(at, 1);
      this.map.set(normalize(combo), shortcut);
    }
    this.list.push(shortcut);
    return this;
  }

  /** Handle a key event; returns true when a shortcut ran. */
  handle(event: KeyboardEvent): boolean {
    if (event.defaultPrevented || event.isComposing) return false;
    const shortcut = this.map.get(comboOf(event));
    if (!shortcut) return false;
    if (inField(event.target) && !shortcut.inFields) return false;
    event.preventDefault();
    shortcut.run(event);
    return true;
  }

  attach(target: EventTarget = this.doc): () => void {
    const listener = (event: Event) => void this.handle(event as KeyboardEvent);
    target.addEventListener("keydown", listener);
    this.detach = () => target.removeEventListener("keydown", listener);
    return this.detach;
  }

  /** Handle keys pressed while the focus is inside `element` before the element's own key
   * listeners see them. A Cornerstone viewport takes the focus when it is clicked (tabindex -1)
   * and cancels every key that reaches it (preventDefault in its keydown listener): without
   * this, the page's keys stop working after a click in an image. The document listener of
   * `attach` then sees the key as handled and does not run it twice. */
  attachFirst(element: EventTarget): () => void {
    const listener = (event: Event) => void this.handle(event as KeyboardEvent);
    element.addEventListener("keydown", listener, { capture: true });
    const off = () => element.removeEventListener("keydown", listener, { capture: true });
    this.detachFirst.push(off);
    return off;
  }

  dispose(): void {
    for (const off of this.detachFirst.splice(0)) off();
    this.detach?.();
    this.toggleHelp(false);
  }

  entries(): Shortcut[] {
    return [...new Set(this.list)];
  }

  get helpVisible(): boolean {
    return this.overlay !== null;
  }

  /** The overlay listing every shortcut by group. */
  toggleHelp(show = !this.overlay): void {
    if (!show) {
      this.overlay?.remove();
      this.overlay = null;
      return;
    }
    if (this.overlay) return;
    const groups = new Map<string, Shortcut[]>();
    // Help comes last: the page's own keys are what a reader looks for.
    const entries = this.entries().sort((a, b) => Number(a.group === "Help") - Number(b.group === "Help"));
    for (const s of entries) {
      const group = s.group ?? "General";
      groups.set(group, [...(groups.get(group) ?? []), s]);
    }
    const overlay = this.doc.createElement("div");
    overlay.className = "shortcut-help";
    overlay.dataset.testid = "shortcut-help";
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-label", "Keyboard shortcuts");
    const card = this.doc.createElement("div");
    card.className = "shortcut-card";
    const title = this.doc.createElement("h2");
    title.textContent = "Keyboard shortcuts";
    card.append(title);
    for (const [group, items] of groups) {
      const h3 = this.doc.createElement("h3");
      h3.textContent = group;
      const dl = this.doc.createElement("dl");
      for (const item of items) {
        const dt = this.doc.createElement("dt");
        for (const combo of ([] as string[]).concat(item.keys)) {
          const kbd = this.doc.createElement("kbd");
          kbd.textContent = combo;
          dt.append(kbd, " ");
        }
        const dd = this.doc.createElement("dd");
        dd.textContent = item.description;
        dl.append(dt, dd);
      }
      card.append(h3, dl);
    }
    overlay.append(card);
    overlay.addEventListener("click", (event) => {
      if (event.target === overlay) this.toggleHelp(false);
    });
    this.doc.body.append(overlay);
    this.overlay = overlay;
  }
}

/** The shared keys of the drawing tools (exam and slide pages use the same). */
export const TOOL_KEYS: Record<string, string> = {
  box: "b",
  ellipse: "e",
  polygon: "p",
  freehand: "f",
  point: "o",
  length: "l",
  brush: "d",
  eraser: "x",
  pan: "h",
  zoom: "z",
  wl: "w",
  magnify: "m",
};

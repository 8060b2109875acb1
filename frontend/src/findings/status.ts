/** The save status badge `[data-testid=save-status][data-state=saved|saving|dirty|conflict|error]`;
 * on error it offers to retry at once. Unsaved work of an earlier visit put back from the browser
 * is announced next to it (`[data-testid=restored-notice]`). */

import { h } from "./dom";
import type { FindingStore, StoreStatus } from "./store";

const LABELS: Record<string, string> = {
  saved: "Saved",
  saving: "Saving…",
  dirty: "Unsaved",
  conflict: "Conflict",
  error: "Not saved",
};

export class SaveStatus {
  readonly el: HTMLElement;
  private readonly off: () => void;
  private notice: HTMLElement | null = null;

  constructor(private readonly store: FindingStore) {
    this.el = h("div", { className: "save-status", role: "status", "aria-live": "polite", dataset: { testid: "save-status" } });
    const offState = store.on("state", (status) => this.render(status));
    const offRestored = store.on("restored", ({ count }) => this.showRestored(count));
    this.off = () => {
      offState();
      offRestored();
    };
    this.render(store.status);
    if (store.restoredCount) this.showRestored(store.restoredCount);
  }

  /** Say that unsaved work of an earlier visit was found in this browser and put back. */
  private showRestored(count: number): void {
    this.el.parentElement?.querySelector("[data-testid=restored-notice]")?.remove();
    const what = count === 1 ? "1 unsaved change" : `${count} unsaved changes`;
    const notice = h(
      "div",
      { className: "restored-notice", role: "alert", dataset: { testid: "restored-notice" } },
      `Restored ${what} kept in this browser from your last visit; saving it now.`,
      h("button", { type: "button", className: "link", title: "Hide this notice", on: { click: () => notice.remove() } }, "OK"),
    );
    this.notice?.remove();
    this.notice = notice;
    this.el.after(notice);
    if (!this.el.parentElement) document.body.append(notice);
  }

  private render(status: StoreStatus): void {
    this.el.dataset.state = status.state;
    this.el.title = status.message;
    const children: (Node | string)[] = [h("span", { className: "dot" }), LABELS[status.state] ?? status.state];
    if (status.state === "error") {
      children.push(
        h("span", { className: "detail" }, status.message),
        h("button", { className: "link", dataset: { action: "retry-save" }, on: { click: () => this.store.retry() } }, "Retry now"),
      );
    }
    this.el.replaceChildren(...children);
  }

  dispose(): void {
    this.off();
    this.notice?.remove();
  }
}

/** The save status badge `[data-testid=save-status][data-state=saved|saving|dirty|conflict|error]`;
 * on error it offers to retry at once. */

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

  constructor(private readonly store: FindingStore) {
    this.el = h("div", { className: "save-status", role: "status", "aria-live": "polite", dataset: { testid: "save-status" } });
    this.off = store.on("state", (status) => this.render(status));
    this.render(store.status);
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
  }
}

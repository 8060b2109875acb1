import { afterEach, describe, expect, it, vi } from "vitest";
import { Shortcuts } from "../../src/shortcuts";

/** A focusable element that cancels every key it sees, as Cornerstone's viewport element does. */
function swallowingViewport(host: HTMLElement): HTMLElement {
  const element = document.createElement("div");
  element.tabIndex = -1;
  element.addEventListener("keydown", (event) => event.preventDefault());
  host.append(element);
  return element;
}

function press(target: HTMLElement, key: string): KeyboardEvent {
  const event = new KeyboardEvent("keydown", { key, bubbles: true, cancelable: true });
  target.dispatchEvent(event);
  return event;
}

describe("Shortcuts with a viewport that swallows keys", () => {
  let shortcuts: Shortcuts | null = null;

  afterEach(() => {
    shortcuts?.dispose();
    document.body.replaceChildren();
  });

  it("misses the keys pressed in the viewport when attached to the document only", () => {
    const host = document.createElement("main");
    document.body.append(host);
    const viewport = swallowingViewport(host);
    const run = vi.fn();
    shortcuts = new Shortcuts(document).add({ keys: "b", description: "Box", run });
    shortcuts.attach(document);
    press(viewport, "b");
    expect(run).not.toHaveBeenCalled();
  });

  it("runs each key once, before the viewport, when attached first to its container", () => {
    const host = document.createElement("main");
    document.body.append(host);
    const viewport = swallowingViewport(host);
    const run = vi.fn();
    shortcuts = new Shortcuts(document).add({ keys: "b", description: "Box", run });
    shortcuts.attach(document);
    shortcuts.attachFirst(host);
    press(viewport, "b");
    expect(run).toHaveBeenCalledTimes(1);
    // Keys pressed elsewhere still go through the document listener, once.
    press(document.body, "b");
    expect(run).toHaveBeenCalledTimes(2);
    // Form fields keep their keys.
    const input = document.createElement("input");
    host.append(input);
    press(input, "b");
    expect(run).toHaveBeenCalledTimes(2);
  });

  it("stops listening on dispose", () => {
    const host = document.createElement("main");
    document.body.append(host);
    const viewport = swallowingViewport(host);
    const run = vi.fn();
    shortcuts = new Shortcuts(document).add({ keys: "b", description: "Box", run });
    shortcuts.attach(document);
    shortcuts.attachFirst(host);
    shortcuts.dispose();
    press(viewport, "b");
    expect(run).not.toHaveBeenCalled();
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FindingStore, type SaveConflict } from "../../src/findings/store";
import type { Finding, SaveState } from "../../src/findings/types";
import { FakeServer } from "./fakeServer";

const box = { image: 3, frame: 0, kind: "box" as const, geometry: { x: 1, y: 2, width: 30, height: 40 } };

async function settle(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

describe("FindingStore", () => {
  let server: FakeServer;
  let store: FindingStore;
  let states: SaveState[];

  beforeEach(async () => {
    localStorage.clear(); // the store keeps unsaved work there: no test sees another's
    vi.useFakeTimers();
    server = new FakeServer();
    store = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 500 });
    states = [];
    store.on("state", (s) => states.push(s.state));
    await store.load();
  });

  afterEach(() => {
    store.dispose();
    vi.useRealTimers();
  });

  it("debounces autosave: quick changes become one save after the pause", async () => {
    const key = store.create({ finding_type: "mass", marks: [box] });
    store.update(key, { birads: "3" });
    store.update(key, { birads: "4" });
    expect(store.state).toBe("dirty");
    await settle(400);
    expect(server.writes()).toHaveLength(0);
    await settle(200);
    expect(server.writes()).toHaveLength(1);
    expect(server.writes()[0].body).toMatchObject({ exam: 7, finding_type: "mass", birads: "4" });
    expect(store.state).toBe("saved");
    expect(states).toContain("saving");
  });

  it("sends the version last seen and takes the server's next version", async () => {
    const stored = server.seed({ birads: "2" });
    await store.load();
    const key = store.keyOf(stored.id)!;
    store.update(key, { birads: "3" });
    await settle(600);
    store.update(key, { birads: "4" });
    await settle(600);
    const patches = server.writes().filter((c) => c.method === "PATCH");
    expect(patches.map((c) => c.body?.version)).toEqual([1, 2]);
    expect(store.get(key)?.version).toBe(3);
    expect(server.findings.get(stored.id)?.birads).toBe("4");
  });

  it("gives new marks the server's ids, so the next save keeps them instead of adding copies", async () => {
    const key = store.create({ marks: [box] });
    await settle(600);
    const markId = store.get(key)!.marks[0].id;
    expect(markId).toBeTypeOf("number");
    store.addMark(key, { ...box, kind: "point", geometry: { x: 5, y: 5 } });
    await settle(600);
    const last = server.writes().at(-1)!;
    expect((last.body?.marks as { id?: number }[])[0].id).toBe(markId);
    expect(server.findings.get(store.get(key)!.id!)?.marks).toHaveLength(2);
  });

  it("on 409 keeps both versions and saves mine on top of theirs when I keep mine", async () => {
    const stored = server.seed({ birads: "2" });
    await store.load();
    const key = store.keyOf(stored.id)!;
    const conflicts: SaveConflict[] = [];
    store.onConflict((c) => conflicts.push(c));
    server.editElsewhere(stored.id, { birads: "5", note: "theirs" });
    store.update(key, { birads: "4" });
    await settle(600);

    expect(store.state).toBe("conflict");
    expect(conflicts).toHaveLength(1);
    expect((conflicts[0].mine as Finding).birads).toBe("4");
    expect((conflicts[0].theirs as Finding).birads).toBe("5");
    expect(store.get(key)?.birads).toBe("4"); // my edit is still on screen

    store.keepMine(key);
    await settle(10);
    const last = server.writes().at(-1)!;
    expect(last.body?.version).toBe(2);
    expect(server.findings.get(stored.id)?.birads).toBe("4");
    expect(server.findings.get(stored.id)?.note).toBe("theirs"); // a field I did not change keeps theirs
    expect(server.findings.get(stored.id)?.version).toBe(3);
    expect(store.state).toBe("saved");
  });

  it("on 409 taking theirs shows their version and undo brings mine back", async () => {
    const stored = server.seed({ birads: "2" });
    await store.load();
    const key = store.keyOf(stored.id)!;
    server.editElsewhere(stored.id, { birads: "5" });
    store.update(key, { birads: "4" });
    await settle(600);
    store.takeTheirs(key);
    expect(store.get(key)?.birads).toBe("5");
    expect(store.state).toBe("saved");

    store.undo();
    await settle(600);
    expect(server.findings.get(stored.id)?.birads).toBe("4");
  });

  it("keeping mine overwrites a field both of us changed", async () => {
    const stored = server.seed({ birads: "2", note: "base" });
    await store.load();
    const key = store.keyOf(stored.id)!;
    server.editElsewhere(stored.id, { note: "theirs" });
    store.update(key, { note: "mine" });
    await settle(600);
    store.keepMine(key);
    await settle(10);
    expect(server.findings.get(stored.id)?.note).toBe("mine");
  });

  it("does not save again while a conflict waits for the reader", async () => {
    const stored = server.seed();
    await store.load();
    const key = store.keyOf(stored.id)!;
    server.editElsewhere(stored.id, { birads: "5" });
    store.update(key, { birads: "4" });
    await settle(600);
    const writes = server.writes().length;
    store.update(key, { note: "more" });
    await settle(5000);
    expect(server.writes()).toHaveLength(writes);
    expect(store.conflicts()).toHaveLength(1);
  });

  it("undo and redo step through changes and are saved", async () => {
    const key = store.create({ finding_type: "mass" });
    store.update(key, { birads: "3" });
    store.update(key, { birads: "4" });
    await settle(600);
    expect(store.undo()).toBe(key);
    expect(store.get(key)?.birads).toBe("3");
    store.undo();
    expect(store.get(key)?.birads).toBe("");
    store.redo();
    expect(store.get(key)?.birads).toBe("3");
    await settle(600);
    expect(server.findings.get(store.get(key)!.id!)?.birads).toBe("3");
    expect(store.canRedo()).toBe(true);
    store.update(key, { birads: "5" });
    expect(store.canRedo()).toBe(false);
  });

  it("undo of a creation deletes the finding and redo creates it again", async () => {
    const key = store.create({ finding_type: "mass", marks: [box] });
    await settle(600);
    const firstId = store.get(key)!.id!;
    store.undo();
    expect(store.get(key)).toBeUndefined();
    await settle(600);
    expect(server.findings.get(firstId)?.deleted).toBe(true);
    store.redo();
    await settle(600);
    const again = store.get(key)!;
    expect(again.id).not.toBe(firstId);
    expect(server.findings.get(again.id!)?.marks).toHaveLength(1);
  });

  it("restores a removed mask by undo from the image read before the removal", async () => {
    const png = btoa("PNG-bytes");
    const fetchBinary = vi.fn(async () => new Blob(["PNG-bytes"]));
    store = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 500, fetchBinary });
    const stored = server.seed({ marks: [{ image: 3, kind: "mask", geometry: { x: 0, y: 0, width: 4, height: 4 }, mask_png_base64: png }] });
    await store.load();
    const key = store.keyOf(stored.id)!;
    const markKey = store.get(key)!.marks[0].key!;
    store.removeMark(key, markKey);
    await settle(600);
    expect(fetchBinary).toHaveBeenCalledWith(stored.marks[0].mask_url);
    expect(server.findings.get(stored.id)?.marks).toHaveLength(0);
    store.undo();
    await settle(600);
    const sent = server.writes().at(-1)!.body?.marks as Record<string, unknown>[];
    expect(sent[0]).toMatchObject({ kind: "mask", mask_png_base64: png });
    expect(sent[0].id).toBeUndefined();
    expect(server.findings.get(stored.id)?.marks).toHaveLength(1);
    expect(store.state).toBe("saved");
  });

  it("undoes a repainted mask across saves: the earlier pixels go again, and redo the later ones", async () => {
    const first = btoa("PNG-first");
    const fetchBinary = vi.fn(async () => new Blob(["PNG-stored"]));
    store = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 500, fetchBinary });
    await store.load();
    const geometry = { x: 0, y: 0, width: 4, height: 4 };
    const key = store.create({ marks: [{ image: 3, kind: "mask", geometry, mask_png_base64: first }] });
    await settle(600);
    const markKey = store.get(key)!.marks[0].key!;
    const id = store.get(key)!.marks[0].id!;
    // The eraser repaints it; saved.
    const second = btoa("PNG-second");
    store.updateMark(key, markKey, { mask_png_base64: second });
    await settle(600);
    expect(server.writes().at(-1)!.body?.marks).toMatchObject([{ id, mask_png_base64: second }]);

    store.undo();
    await settle(600);
    expect(server.writes().at(-1)!.body?.marks).toMatchObject([{ id, mask_png_base64: first }]);
    expect(store.state).toBe("saved");
    store.redo();
    await settle(600);
    expect(server.writes().at(-1)!.body?.marks).toMatchObject([{ id, mask_png_base64: second }]);
    // Both files were painted here: nothing had to be read back from the server.
    expect(fetchBinary).not.toHaveBeenCalled();
    // A later change of the finding sends the mark by id only.
    store.update(key, { birads: "3" });
    await settle(600);
    expect((server.writes().at(-1)!.body?.marks as Record<string, unknown>[])[0].mask_png_base64).toBeUndefined();
  });

  it("reads a stored mask's pixels before repainting it, so that undo restores it", async () => {
    const fetchBinary = vi.fn(async () => new Blob(["PNG-stored"]));
    store = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 500, fetchBinary });
    const stored = server.seed({ marks: [{ image: 3, kind: "mask", geometry: { x: 0, y: 0, width: 4, height: 4 }, mask_png_base64: "x" }] });
    await store.load();
    const key = store.keyOf(stored.id)!;
    const markKey = store.get(key)!.marks[0].key!;
    store.updateMark(key, markKey, { mask_png_base64: btoa("PNG-new") });
    await settle(600);
    expect(fetchBinary).toHaveBeenCalledWith(stored.marks[0].mask_url);

    store.undo();
    await settle(600);
    expect(server.writes().at(-1)!.body?.marks).toMatchObject([{ id: stored.marks[0].id, mask_png_base64: btoa("PNG-stored") }]);
  });

  it("merges a drag into one undo step with coalesce", async () => {
    const key = store.create({ marks: [box] });
    const markKey = store.get(key)!.marks[0].key!;
    for (let x = 2; x < 6; x++) {
      store.updateMark(key, markKey, { geometry: { ...box.geometry, x } }, { coalesce: "drag" });
    }
    store.undo();
    expect(store.get(key)?.marks[0].geometry.x).toBe(1);
  });

  it("keeps a change through a network failure and retries with backoff", async () => {
    const key = store.create({ finding_type: "mass" });
    server.failNext = 2;
    await settle(600);
    expect(store.state).toBe("error");
    expect(store.isDirty()).toBe(true);
    await settle(1000); // first retry after 1 s: fails again
    expect(server.writes()).toHaveLength(2);
    expect(store.state).toBe("error");
    await settle(1500);
    expect(server.writes()).toHaveLength(2); // the second retry waits 2 s
    await settle(600);
    expect(server.writes()).toHaveLength(3);
    expect(store.state).toBe("saved");
    expect(store.get(key)?.id).toBeTypeOf("number");
  });

  it("retries a 503 but not a validation error", async () => {
    server.unavailableNext = 1;
    store.create({ finding_type: "mass" });
    await settle(600);
    expect(store.state).toBe("error");
    await settle(1000);
    expect(store.state).toBe("saved");

    const key = store.create({ marks: [{ ...box, kind: "mask", geometry: {} }] });
    await settle(600);
    expect(store.state).toBe("error");
    const writes = server.writes().length;
    await settle(60_000);
    expect(server.writes()).toHaveLength(writes);
    store.update(key, { marks: [] });
    await settle(600);
    expect(store.state).toBe("saved");
  });

  it("saves exam labels with their version and creates them at version 0", async () => {
    store.setLabel("", { density: "C" });
    await settle(600);
    store.setLabel("", { birads: "2" });
    await settle(600);
    const puts = server.writes().filter((c) => c.method === "PUT");
    expect(puts.map((c) => c.body?.version)).toEqual([0, 1]);
    expect(store.label("")).toMatchObject({ density: "C", birads: "2" });
    expect(server.labels[0].version).toBe(2);
  });

  it("flush saves at once and the unload guard warns only while dirty", async () => {
    const target = new EventTarget() as unknown as Window;
    store.guardUnload(target);
    const unload = () => {
      const event = new Event("beforeunload", { cancelable: true });
      target.dispatchEvent(event);
      return event.defaultPrevented;
    };
    expect(unload()).toBe(false);
    store.create({ finding_type: "mass" });
    expect(unload()).toBe(true);
    await store.flush();
    expect(unload()).toBe(false);
    expect(server.writes()).toHaveLength(1);
  });

  it("brings back a deleted mask finding drawn on this page by undo, with its pixels", async () => {
    const png = "data:image/png;base64,UE5HLWJ5dGVz";
    const key = store.create({ marks: [{ image: 3, kind: "mask", geometry: { x: 0, y: 0, width: 4, height: 4 }, mask_png_base64: png }] });
    await settle(600);
    expect(store.get(key)!.marks[0].mask_png_base64).toBeUndefined(); // the server has it now
    store.remove(key);
    await settle(600);
    const live = () => [...server.findings.values()].filter((f) => !f.deleted);
    expect(live()).toHaveLength(0);
    store.undo();
    await settle(600);
    const sent = server.writes().at(-1)!;
    expect(sent.method).toBe("POST");
    expect((sent.body?.marks as Record<string, unknown>[])[0]).toMatchObject({ kind: "mask", mask_png_base64: png });
    expect(store.state).toBe("saved");
    expect(live()).toHaveLength(1);
    expect(live()[0].marks[0].kind).toBe("mask");
  });

  it("reads the pixels of a stored mask finding before deleting it, so that undo restores it", async () => {
    const fetchBinary = vi.fn(async () => new Blob(["PNG-bytes"]));
    store = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 500, fetchBinary });
    const stored = server.seed({ marks: [{ image: 3, kind: "mask", geometry: { x: 0, y: 0, width: 4, height: 4 }, mask_png_base64: "x" }] });
    await store.load();
    const key = store.keyOf(stored.id)!;
    store.remove(key);
    await settle(600);
    expect(fetchBinary).toHaveBeenCalledWith(stored.marks[0].mask_url);
    store.undo();
    await settle(600);
    const sent = server.writes().at(-1)!;
    expect((sent.body?.marks as Record<string, unknown>[])[0]).toMatchObject({ kind: "mask", mask_png_base64: btoa("PNG-bytes") });
    expect(store.state).toBe("saved");
  });

  it("keeps unsaved work in the browser until it is saved, and a new page restores and saves it", async () => {
    server.failNext = 100;
    const key = store.create({ finding_type: "mass", birads: "4", marks: [box] });
    await settle(600);
    expect(store.state).toBe("error");
    expect(store.status.message).toContain("kept in this browser");
    const kept = JSON.parse(localStorage.getItem(store.draftKey)!);
    expect(kept.entries).toHaveLength(1);
    expect(kept.entries[0].local).toMatchObject({ finding_type: "mass", birads: "4" });
    expect(store.get(key)).toBeDefined();
    store.dispose();

    // The page is reloaded; the server answers again.
    server.failNext = 0;
    const again = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 500 });
    const restored: number[] = [];
    again.on("restored", ({ count }) => restored.push(count));
    await again.load();
    expect(restored).toEqual([1]);
    expect(again.findings()).toHaveLength(1);
    expect(again.state).toBe("dirty");
    await settle(600);
    expect(again.state).toBe("saved");
    expect([...server.findings.values()].map((f) => f.birads)).toEqual(["4"]);
    expect(localStorage.getItem(again.draftKey)).toBeNull();
    // Another reader's copy is another key.
    expect(new FindingStore(server.api(), { exam: 7, userId: 2 }).draftKey).not.toBe(again.draftKey);
    again.dispose();
  });

  it("restores an unsaved edit of a stored finding on top of the version it started from", async () => {
    const stored = server.seed({ birads: "2", marks: [box] });
    await store.load();
    server.failNext = 100;
    store.update(store.keyOf(stored.id)!, { birads: "5" });
    await settle(600);
    store.dispose();
    server.failNext = 0;
    const again = new FindingStore(server.api(), { exam: 7, userId: 1, debounceMs: 500 });
    await again.load();
    expect(again.get(again.keyOf(stored.id)!)?.birads).toBe("5");
    await settle(600);
    expect(server.findings.get(stored.id)?.birads).toBe("5");
    expect(server.findings.get(stored.id)?.marks).toHaveLength(1);
    again.dispose();
  });
});

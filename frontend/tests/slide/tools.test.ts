import { describe, expect, it } from "vitest";
import { boxFrom, centre, ellipseFrom, outline, polygonFrom, translate } from "../../src/slide/geometry";
import { DrawingController, type Drawn } from "../../src/slide/tools";
import { dziTileSource } from "../../src/slide/viewer";

const size = { width: 1000, height: 800 };

function controller(pixelSize = 1) {
  const drawn: Drawn[] = [];
  const c = new DrawingController(size, (d) => drawn.push(d), () => {}, () => pixelSize);
  return { c, drawn };
}

describe("slide geometry", () => {
  it("normalizes a box dragged up-left and clamps it to the slide", () => {
    expect(boxFrom({ x: 50, y: 60 }, { x: -10, y: 20 }, size)).toEqual({ x: 0, y: 20, width: 50, height: 40 });
    expect(boxFrom({ x: 5, y: 5 }, { x: 5.2, y: 30 }, size)).toBeNull();
  });

  it("inscribes an ellipse in the dragged box", () => {
    expect(ellipseFrom({ x: 10, y: 10 }, { x: 30, y: 50 }, size)).toEqual({ cx: 20, cy: 30, rx: 10, ry: 20 });
  });

  it("refuses a polygon with fewer than three distinct vertices", () => {
    expect(polygonFrom([{ x: 1, y: 1 }, { x: 1, y: 1 }, { x: 9, y: 9 }], size)).toBeNull();
    expect(polygonFrom([{ x: 1, y: 1 }, { x: 9, y: 1 }, { x: 9, y: 9 }], size)?.points).toHaveLength(3);
  });

  it("moves a mark and keeps it on the slide", () => {
    const poly = { kind: "polygon" as const, geometry: { points: [[10, 10], [50, 10], [50, 40]] } };
    expect(translate(poly, 5, -3, size).points).toEqual([[15, 7], [55, 7], [55, 37]]);
    expect(translate(poly, -100, 0, size).points).toEqual([[0, 10], [40, 10], [40, 40]]);
    const ellipse = { kind: "ellipse" as const, geometry: { cx: 990, cy: 100, rx: 5, ry: 5 } };
    expect(translate(ellipse, 20, 0, size)).toEqual({ cx: 995, cy: 100, rx: 5, ry: 5 });
  });

  it("finds outlines and centres of stored marks", () => {
    const box = { kind: "box" as const, geometry: { x: 10, y: 20, width: 30, height: 40 } };
    expect(outline(box)).toHaveLength(4);
    expect(centre(box)).toEqual({ x: 25, y: 40 });
  });
});

describe("drawing tools", () => {
  it("draws a polygon by clicks and closes it on the first vertex", () => {
    const { c, drawn } = controller(2);
    c.setTool("polygon");
    for (const p of [{ x: 100, y: 100 }, { x: 200, y: 100 }, { x: 200, y: 200 }]) c.click(p);
    expect(drawn).toHaveLength(0);
    c.click({ x: 105, y: 104 }); // within 8 screen px (16 slide px) of the first
    expect(drawn).toEqual([{ kind: "polygon", geometry: { points: [[100, 100], [200, 100], [200, 200]] }, append: false }]);
    expect(c.draft).toBeNull();
  });

  it("closes a polygon with Enter, removes vertices with Backspace and drops it with Escape", () => {
    const { c, drawn } = controller();
    c.setTool("polygon");
    for (const p of [{ x: 1, y: 1 }, { x: 50, y: 1 }, { x: 50, y: 50 }, { x: 1, y: 50 }]) c.click(p);
    expect(c.key("Backspace")).toBe(true);
    expect(c.draft?.points).toHaveLength(3);
    expect(c.key("Enter")).toBe(true);
    expect(drawn[0].geometry.points).toHaveLength(3);
    c.click({ x: 5, y: 5 });
    expect(c.key("Escape")).toBe(true);
    expect(c.draft).toBeNull();
    expect(c.key("Escape")).toBe(false);
  });

  it("draws a box by press, drag and release and takes the gesture from panning", () => {
    const { c, drawn } = controller();
    c.setTool("box");
    expect(c.press({ x: 10, y: 10 }, true)).toBe(true);
    expect(c.drag({ x: 40, y: 30 })).toBe(true);
    c.release({ x: 60, y: 70 });
    expect(drawn).toEqual([{ kind: "box", geometry: { x: 10, y: 10, width: 50, height: 60 }, append: true }]);
  });

  it("leaves every gesture to the slide with the pan tool", () => {
    const { c, drawn } = controller();
    expect(c.press({ x: 1, y: 1 })).toBe(false);
    expect(c.drag({ x: 5, y: 5 })).toBe(false);
    expect(c.click({ x: 5, y: 5 })).toBe(false);
    expect(drawn).toHaveLength(0);
  });

  it("places a point inside the slide only", () => {
    const { c, drawn } = controller();
    c.setTool("point");
    c.click({ x: 5, y: 6 });
    c.click({ x: -5, y: 6 });
    expect(drawn).toEqual([{ kind: "point", geometry: { x: 5, y: 6 }, append: false }]);
  });

  it("thins a freehand stroke by screen distance", () => {
    const { c, drawn } = controller(1);
    c.setTool("freehand");
    c.press({ x: 0, y: 0 });
    for (let i = 1; i <= 100; i++) c.drag({ x: i * 0.5, y: i % 2 ? i : i * 0.9 });
    c.release({ x: 0, y: 40 });
    const points = drawn[0].geometry.points as number[][];
    expect(points.length).toBeGreaterThan(3);
    expect(points.length).toBeLessThan(100);
  });
});

describe("Deep Zoom descriptor", () => {
  it("points OpenSeadragon at the platform's tiles URL", () => {
    const xml = '<?xml version="1.0"?><Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="jpeg" Overlap="0" TileSize="256"><Size Width="2220" Height="2967"/></Image>';
    expect(dziTileSource(xml, "/api/slides/2/tiles/")).toEqual({
      Image: {
        xmlns: "http://schemas.microsoft.com/deepzoom/2008",
        Url: "/api/slides/2/tiles/",
        Format: "jpeg",
        Overlap: "0",
        TileSize: "256",
        Size: { Width: "2220", Height: "2967" },
      },
    });
  });
});

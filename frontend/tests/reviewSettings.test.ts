import { describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import { ReviewSettingsPanel, reasonsFromText, rulesFromInputs } from "../src/projects/reviewSettings";

function json(status: number, body?: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status });
}

const project = {
  id: 3,
  name: "Loop",
  slug: "loop",
  description: "",
  created_at: "",
  role: "owner",
  blind_first_read: false,
  private_reads: true,
  hide_reference: false,
  preannotate_on_ingest: false,
  adjudication_rules: { birads_difference: 1 },
  rejection_reasons: ["Artefact"],
} as never;

describe("review settings", () => {
  it("leaves empty rules to their defaults and refuses what is not a number of at least 0", () => {
    expect(rulesFromInputs({ birads_difference: "3", density_difference: "", iou_threshold: " 0.4 " })).toEqual({ birads_difference: 3, iou_threshold: 0.4 });
    expect(() => rulesFromInputs({ lesion_f1_below: "-1" })).toThrow(/Lesion F1 of two readers below: give a number of at least 0, or leave it empty for 0.5/);
    expect(() => rulesFromInputs({ birads_difference: "two" })).toThrow(/BI-RADS/);
  });

  it("reads one rejection reason per line", () => {
    expect(reasonsFromText(" Artefact \n\nNot a lesion\n")).toEqual(["Artefact", "Not a lesion"]);
  });

  it("shows the stored settings and saves an owner's changes, then shows what was stored", async () => {
    const fetchImpl = vi.fn(async (_url: string, init?: RequestInit) => {
      const body = JSON.parse(String(init!.body));
      return json(200, { ...(project as object), ...body, rejection_reasons: body.rejection_reasons.map((r: string) => r.toUpperCase()) });
    });
    const saved = vi.fn();
    const panel = new ReviewSettingsPanel(new Api("/api/", "t", fetchImpl as unknown as typeof fetch), project, true, saved);
    document.body.replaceChildren(panel.el);
    const field = <T extends HTMLElement>(name: string) => panel.el.querySelector<T>(`[name=${name}]`)!;
    expect(field<HTMLInputElement>("private_reads").checked).toBe(true);
    expect(field<HTMLInputElement>("birads_difference").value).toBe("1");
    expect(field<HTMLInputElement>("density_difference").placeholder).toBe("1 (default)");
    expect(field<HTMLTextAreaElement>("rejection_reasons").value).toBe("Artefact");

    field<HTMLInputElement>("blind_first_read").checked = true;
    field<HTMLInputElement>("preannotate_on_ingest").checked = true;
    field<HTMLInputElement>("iou_threshold").value = "0.5";
    field<HTMLTextAreaElement>("rejection_reasons").value = "Artefact\nNot a lesion";
    panel.el.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));

    await vi.waitFor(() => expect(saved).toHaveBeenCalled());
    const [url, init] = fetchImpl.mock.calls[0]!;
    expect(url).toBe("/api/projects/3/");
    expect(init!.method).toBe("PATCH");
    expect(JSON.parse(String(init!.body))).toEqual({
      hide_reference: false,
      blind_first_read: true,
      private_reads: true,
      preannotate_on_ingest: true,
      adjudication_rules: { birads_difference: 1, iou_threshold: 0.5 },
      rejection_reasons: ["Artefact", "Not a lesion"],
    });
    expect(field<HTMLTextAreaElement>("rejection_reasons").value).toBe("ARTEFACT\nNOT A LESION");
    expect(panel.el.querySelector("[data-testid=review-settings-message]")!.textContent).toBe("Review settings saved.");
  });

  it("sends nothing for a rule that is not a number and says which", () => {
    const fetchImpl = vi.fn();
    const panel = new ReviewSettingsPanel(new Api("/api/", "t", fetchImpl as unknown as typeof fetch), project, true);
    panel.el.querySelector<HTMLInputElement>("[name=density_difference]")!.value = "-2";
    panel.el.querySelector("form")!.dispatchEvent(new Event("submit", { cancelable: true }));
    expect(fetchImpl).not.toHaveBeenCalled();
    expect(panel.el.querySelector("[data-testid=review-settings-message]")!.textContent).toMatch(/^Density steps apart/);
  });

  it("lets other members read the settings but not change them", () => {
    const panel = new ReviewSettingsPanel(new Api("/api/", "t", vi.fn() as unknown as typeof fetch), project, false);
    expect(panel.el.querySelector<HTMLInputElement>("[name=private_reads]")!.disabled).toBe(true);
    expect(panel.el.querySelector("[data-action=save-review-settings]")).toBeNull();
    expect(panel.el.textContent).toContain("Only the project's owners change these.");
  });
});

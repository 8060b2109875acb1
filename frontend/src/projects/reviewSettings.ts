/** The project page's review-loop settings: blind reading, blind first read, private reads,
 * pre-annotation after ingest, the adjudication rules and the reasons a reviewer gives for
 * rejecting a proposal. Owners edit them (PATCH /api/projects/{id}/); other members read them.
 * A refusal is shown in the API's words and nothing is kept in the form that was not stored. */

import type { Api, Schemas } from "../api";
import { h } from "../findings/dom";

type Project = Schemas["Project"];

/** The adjudication rules an owner can set, with annotations/adjudication.py's defaults. */
export const ADJUDICATION_RULES: { key: string; label: string; fallback: number; step: string }[] = [
  { key: "birads_difference", label: "BI-RADS categories apart (4A-4C count as 4)", fallback: 2, step: "1" },
  { key: "density_difference", label: "Density steps apart (A to D)", fallback: 1, step: "1" },
  { key: "lesion_f1_below", label: "Lesion F1 of two readers below", fallback: 0.5, step: "0.05" },
  { key: "iou_threshold", label: "IoU at which two marks match", fallback: 0.3, step: "0.05" },
];

const SWITCHES: { key: "hide_reference" | "blind_first_read" | "private_reads" | "preannotate_on_ingest"; label: string }[] = [
  { key: "hide_reference", label: "Viewers and annotators read blind to imported ground truth" },
  { key: "blind_first_read", label: "Blind first read: readers submit their own read before model proposals are shown" },
  { key: "private_reads", label: "Private reads: each reader's marks stay theirs until the exam is closed" },
  { key: "preannotate_on_ingest", label: "Pre-annotate new exams after ingest with the active model versions" },
];

/** Rules from the form's texts: an empty field keeps the default (it is left out); anything
 * else must be a number of at least 0. Throws an Error naming the field otherwise. */
export function rulesFromInputs(values: Record<string, string>): Record<string, number> {
  const rules: Record<string, number> = {};
  for (const rule of ADJUDICATION_RULES) {
    const text = (values[rule.key] ?? "").trim();
    if (!text) continue;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0) throw new Error(`${rule.label}: give a number of at least 0, or leave it empty for ${rule.fallback}.`);
    rules[rule.key] = value;
  }
  return rules;
}

/** One rejection reason per line, blank lines dropped, each trimmed. */
export function reasonsFromText(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}

export class ReviewSettingsPanel {
  readonly el: HTMLElement;
  private readonly messageEl = h("p", { className: "notice", hidden: true, role: "status", dataset: { testid: "review-settings-message" } });

  constructor(
    private readonly api: Api,
    private project: Project,
    private readonly canEdit: boolean,
    private readonly onSaved: (saved: Project) => void = () => {},
  ) {
    this.el = h("section", { className: "review-settings-panel" }, this.form(), this.messageEl);
  }

  private form(): HTMLFormElement {
    const p = this.project;
    const disabled = !this.canEdit;
    const switches = SWITCHES.map(({ key, label }) =>
      h("label", { className: "check" }, h("input", { type: "checkbox", name: key, checked: Boolean(p[key]), disabled }), ` ${label}`),
    );
    const stored = (p.adjudication_rules ?? {}) as Record<string, unknown>;
    const rules = ADJUDICATION_RULES.map((rule) =>
      h(
        "label",
        { className: "field" },
        h("span", {}, rule.label),
        h("input", {
          type: "number",
          name: rule.key,
          min: "0",
          step: rule.step,
          placeholder: `${rule.fallback} (default)`,
          value: typeof stored[rule.key] === "number" ? String(stored[rule.key]) : "",
          disabled,
        }),
      ),
    );
    const reasons = h("textarea", { name: "rejection_reasons", rows: 4, disabled }, ((p.rejection_reasons ?? []) as string[]).join("\n"));
    const form = h(
      "form",
      { className: "review-settings", "aria-label": "Review settings", dataset: { testid: "review-settings" } },
      h("h3", {}, "Review settings"),
      h("fieldset", {}, h("legend", {}, "Reading"), ...switches),
      h("fieldset", {}, h("legend", {}, "An exam read by several readers goes to adjudication when two reads are"), ...rules),
      h("label", { className: "field" }, h("span", {}, "Reasons for rejecting a proposal (one per line)"), reasons),
      this.canEdit ? h("button", { type: "submit", dataset: { action: "save-review-settings" } }, "Save review settings") : h("p", { className: "muted" }, "Only the project's owners change these."),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const input = (name: string) => form.querySelector<HTMLInputElement>(`[name=${name}]`)!;
      let body: Schemas["PatchedProjectRequest"];
      try {
        body = {
          ...Object.fromEntries(SWITCHES.map(({ key }) => [key, input(key).checked])),
          adjudication_rules: rulesFromInputs(Object.fromEntries(ADJUDICATION_RULES.map(({ key }) => [key, input(key).value]))),
          rejection_reasons: reasonsFromText(reasons.value),
        };
      } catch (err) {
        this.say(err instanceof Error ? err.message : String(err), true);
        return;
      }
      void this.save(body);
    });
    return form;
  }

  private async save(body: Schemas["PatchedProjectRequest"]): Promise<void> {
    try {
      const saved = await this.api.PATCH("/api/projects/{id}/", { path: { id: this.project.id }, body });
      // Show what was stored (the server trims the reasons), not what was typed.
      this.project = saved;
      this.el.firstElementChild!.replaceWith(this.form());
      this.say("Review settings saved.", false);
      this.onSaved(saved);
    } catch (err) {
      this.say(err instanceof Error ? err.message : String(err), true);
    }
  }

  private say(text: string, error: boolean): void {
    this.messageEl.hidden = false;
    this.messageEl.className = `notice${error ? " error" : ""}`;
    this.messageEl.textContent = text;
  }
}

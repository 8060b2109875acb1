/** The burned-in text quarantine badge (senolab/imaging/deid/burned_in.py): shown on viewports
 * and worklist rows whose images may carry a name burned into the pixels, until a reviewer
 * marks them clean or their configured regions are masked. */

export interface QuarantineInfo {
  pixel_status?: string;
  pixel_status_reason?: string;
}

export function isQuarantined(image: QuarantineInfo): boolean {
  return image.pixel_status === "quarantined";
}

/** A badge element; `detail` becomes its tooltip (the reason, or a count). */
export function quarantineBadge(detail: string, doc: Document = document): HTMLElement {
  const badge = doc.createElement("span");
  badge.className = "quarantine-badge";
  badge.dataset.testid = "quarantine-badge";
  badge.textContent = "burned-in text: quarantined";
  badge.title = `${detail}. Not used for research until a reviewer marks it clean or its text regions are masked.`;
  return badge;
}

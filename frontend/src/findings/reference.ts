/** The reader's choice to show or hide the reference (imported ground truth), per project, kept
 * in the browser: the findings panel's Reference toggle writes it, the worklist reads it. What a
 * blind reader of a blind-reading project may not see is never sent: this only hides more. */

const KEY = "senolab.showReference.";

/** true: show, false: hide, null: no choice made for this project. */
export function referencePreference(project: number | null | undefined): boolean | null {
  if (!project) return null;
  try {
    const value = localStorage.getItem(KEY + project);
    return value === null ? null : value === "1";
  } catch {
    return null; // storage blocked: no remembered choice
  }
}

export function rememberReference(project: number | null | undefined, shown: boolean): void {
  if (!project) return;
  try {
    localStorage.setItem(KEY + project, shown ? "1" : "0");
  } catch {
    // storage blocked: the choice holds for this page only
  }
}

/// <reference lib="dom" />
// Expand all / Collapse all for the PCI tree (each <details> also opens and closes on its own, by keyboard).

/** Wires the two buttons to every <details> in the tree. */
export function wireTreeControls(tree: HTMLElement, expand: HTMLButtonElement, collapse: HTMLButtonElement): void {
  const setAll = (open: boolean) => {
    tree.querySelectorAll('details').forEach((details) => { details.open = open; });
  };
  expand.addEventListener('click', () => setAll(true));
  collapse.addEventListener('click', () => setAll(false));
}

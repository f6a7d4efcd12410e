// Building HTML text safely: every value that comes from input (device names, file names, error strings)
// goes through escapeHtml(); data for the page script goes through scriptJson().

/** `text` with &, <, >, " and ' escaped, for element content and quoted attribute values. Never throws. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!);
}

/**
 * `value` as JSON that can sit inside a <script type="application/json"> element: every "<" is written as
 * \u003c, so no "</script>" or "<!--" can end or bend the element. Never throws for plain data.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

// Model output is untrusted text on its way to a terminal: escape sequences in it could move the
// cursor, retitle the window or rewrite what was shown. Control characters other than newline
// become U+FFFD and tabs become spaces (Ink measures a tab as zero columns).

// C0 controls except \n and \t, DEL, and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

export function displaySafe(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/\t/g, '    ').replace(CONTROL, '\uFFFD');
}

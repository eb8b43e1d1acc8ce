/** RFC 4180 CSV: quote a field when it holds a comma, quote or line break. Pure. */
export function csvField(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvLine(fields: readonly (string | number | boolean | null)[]): string {
  return fields.map(csvField).join(',') + '\r\n';
}

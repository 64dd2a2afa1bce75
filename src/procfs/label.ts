/**
 * Security labels. SELinux, Smack and AppArmor expose the current label in
 * /proc/PID/attr/current; with stacked LSMs (Linux ≥ 5.x) each has /proc/PID/attr/<lsm>/current.
 */

/** The label text without the trailing NUL/newline some LSMs append. */
export function parseLabel(raw: string): string | null {
  const label = raw.replace(/[\0\n]+$/, '').trim();
  return label === '' ? null : label;
}

/**
 * The domain (type) of a label: the third field of an SELinux context
 * `user:role:type:level`; for other LSMs the label itself, less an AppArmor mode suffix
 * such as ` (enforce)`.
 */
export function labelDomain(label: string): string {
  const selinux = label.split(':');
  if (selinux.length >= 3 && /^[A-Za-z0-9_.-]+$/.test(selinux[0] ?? '')) return selinux[2] ?? label;
  return label.replace(/ \((enforce|complain|kill|unconfined)\)$/, '');
}

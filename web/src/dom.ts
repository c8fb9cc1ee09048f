// A tiny DOM builder: text always goes in as text (never HTML), events as listeners.

export type Child = Node | string | number | null | undefined | false | Child[];
type AttrValue = string | number | boolean | null | undefined | ((ev: any) => void);
export type Attrs = Record<string, AttrValue>;

/** Creates an element with attributes (`onclick`… as listeners, `class`, booleans as presence) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value' && 'value' in el) {
      (el as HTMLInputElement).value = String(value);
    } else if (key === 'checked' && el instanceof HTMLInputElement) {
      el.checked = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children (strings as text nodes; arrays flattened; empty values skipped). */
export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces every child of `parent`. */
export function replace(parent: Node, ...children: Child[]): void {
  while (parent.firstChild) parent.removeChild(parent.firstChild);
  append(parent, children);
}

let ids = 0;
/** A unique element id with a readable prefix. */
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form field: `<label for>` + control + optional hint (linked by aria-describedby). */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || uid('f');
  control.id = id;
  const parts: Child[] = [h('label', { for: id }, label), control];
  if (hint) {
    const hintId = `${id}-hint`;
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('p', { class: 'hint', id: hintId }, hint));
  }
  return h('div', { class: 'field' }, ...parts);
}

/** A message region for errors (role="alert"), empty until `show`. */
export class Alert {
  readonly el: HTMLElement;

  constructor() {
    this.el = h('div', { class: 'alert', role: 'alert', hidden: true });
  }

  /** Shows `message`, then `extra` (e.g. a button leading to what fixes the problem). */
  show(message: string, ...extra: Child[]): void {
    replace(this.el, message, ...extra);
    this.el.hidden = false;
  }

  clear(): void {
    replace(this.el);
    this.el.hidden = true;
  }
}

/** A polite live region for progress and outcomes. */
export function status(): HTMLElement {
  return h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
}

/**
 * After a refused request: marks the control of `scope` that the refusal names (the API's
 * `field`: a request field such as `received_on`, or a governance flag such as
 * `controller-contact`) as invalid, with `alert` as its error message, and focuses it.
 * `controls` maps field names to controls; other names are looked up by the controls' `name`,
 * dashes read as underscores. Clears the marks an earlier refusal left in `scope`.
 */
export function markInvalid(scope: HTMLElement, alert: Alert, field: string | null, controls: Record<string, HTMLElement> = {}): void {
  clearInvalid(scope);
  if (!field) return;
  const control = controls[field] ?? scope.querySelector<HTMLElement>(`[name="${CSS.escape(field.replace(/-/g, '_'))}"]`);
  if (!control) return;
  if (!alert.el.id) alert.el.id = uid('alert');
  control.setAttribute('aria-invalid', 'true');
  control.setAttribute('aria-errormessage', alert.el.id);
  control.focus();
}

/** Removes the marks [`markInvalid`] left in `scope`. */
export function clearInvalid(scope: HTMLElement): void {
  for (const el of scope.querySelectorAll('[aria-errormessage]')) {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-errormessage');
  }
}

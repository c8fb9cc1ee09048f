// Log in with a name and password (set by an admin with `gabarit user password`).

import { ApiError, apiMessage, csrf, post, type Session } from '../api';
import { Alert, field, h } from '../dom';
import { m } from '../i18n';

export function loginPage(onLogin: () => Promise<void>): HTMLElement {
  const alert = new Alert();
  const name = h('input', { name: 'name', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const t = m().common.login;
  const submit = h('button', { type: 'submit' }, t.submit);
  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'login-title' },
    field(t.name, name),
    field(t.password, password),
    submit,
    alert.el,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    alert.clear();
    submit.disabled = true;
    try {
      const session = await post<Session>('/session', { name: name.value.trim(), password: password.value });
      csrf.set(session.csrf);
      password.value = '';
      await onLogin();
    } catch (err) {
      alert.show(err instanceof ApiError ? apiMessage(err) : t.failed);
      submit.disabled = false;
      password.focus();
    }
  });
  return h(
    'section',
    { class: 'login' },
    h('h1', { id: 'login-title' }, t.title),
    h('p', { class: 'lede' }, t.lede),
    form,
  );
}

// Log in with a name and password (set by an admin with `gabarit user password`).

import { ApiError, csrf, post, type Session } from '../api';
import { Alert, field, h } from '../dom';

export function loginPage(onLogin: () => Promise<void>): HTMLElement {
  const alert = new Alert();
  const name = h('input', { name: 'name', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit' }, 'Log in');
  const form = h(
    'form',
    { class: 'card narrow', 'aria-labelledby': 'login-title' },
    field('User name', name),
    field('Password', password),
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
      alert.show(err instanceof ApiError ? err.message : 'Logging in failed.');
      submit.disabled = false;
      password.focus();
    }
  });
  return h(
    'section',
    { class: 'login' },
    h('h1', { id: 'login-title' }, 'Log in to Gabarit'),
    h('p', { class: 'lede' }, 'Face search for lawful, purpose-bound work. Every action is recorded in the audit log.'),
    form,
  );
}

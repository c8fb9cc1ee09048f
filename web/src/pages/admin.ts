// #/admin: the admin's page. Each user with their roles, the collections granted to them,
// their API keys (a new key is shown once; revoking stops it at once), their web password,
// and disabling; a form for a new user. Every change goes through the API (and its audit log).

import { ApiError, apiMessage, del, get, post, put, vocabulary, type CollectionSummary, type Keys, type NewKey, type Role, type UserRecord, errorText, fieldOf } from '../api';
import type { Ctx } from '../app';
import { Alert, field, h, replace, status, uid, markInvalid, clearInvalid } from '../dom';
import { dateTime, m } from '../i18n';


/** Role checkboxes in a fieldset; `chosen()` reads them. */
function roleChoice(legend: string, selected: Role[]): { el: HTMLElement; chosen: () => Role[] } {
  const boxes = vocabulary().roles.map((r) => {
    const box = h('input', { type: 'checkbox', value: r, id: uid('role'), checked: selected.includes(r) });
    return { r, box, el: h('div', { class: 'check' }, box, h('label', { for: box.id }, m().common.roleNames[r])) };
  });
  return {
    el: h('fieldset', { class: 'roles-choice' }, h('legend', null, legend), boxes.map((b) => b.el)),
    chosen: () => boxes.filter((b) => b.box.checked).map((b) => b.r),
  };
}

/** A key shown once, selectable, with what to do with it. */
function keyOnce(key: string): HTMLElement {
  return h('div', { class: 'key-once notice' }, h('p', null, m().admin.keyOnce), h('output', { class: 'api-key' }, key));
}

export function adminPage(ctx: Ctx): HTMLElement {
  const t = m().admin;
  const alert = new Alert();
  const loading = status();
  loading.textContent = t.loading;
  const list = h('div', { class: 'users' }, loading);
  let collections: string[] = [];

  async function load(): Promise<void> {
    try {
      const [users, cols] = await Promise.all([get<UserRecord[]>('/users'), get<CollectionSummary[]>('/collections')]);
      if (!ctx.live()) return;
      collections = cols.map((c) => c.name);
      replace(list, users.map(userCard));
    } catch (e) {
      if (!ctx.live()) return;
      replace(list);
      alert.show(e instanceof ApiError ? apiMessage(e) : t.loadFailed);
    }
  }

  function userCard(u: UserRecord): HTMLElement {
    const headingId = uid('user');
    const said = status();
    const cardAlert = new Alert();
    const path = `/users/${encodeURIComponent(u.name)}`;
    const failed = (e: unknown): void => {
      said.textContent = '';
      cardAlert.show(errorText(e, m().admin.failed));
    };
    /** A click handler doing `work`: the card says what it did, or why it failed. */
    const act = (work: () => Promise<string | void>) => async (): Promise<void> => {
      try {
        const text = await work();
        cardAlert.clear();
        said.textContent = text ?? '';
      } catch (e) {
        failed(e);
      }
    };
    const button = (label: string, onclick: () => void, kind = 'secondary'): HTMLButtonElement =>
      h('button', { type: 'button', class: kind, onclick }, label);

    // Roles.
    const roles = roleChoice(t.roles, u.roles);
    const saveRoles = button(
      t.saveRoles,
      act(async () => {
        const chosen = roles.chosen();
        if (!chosen.length) throw new ApiError(400, 'roles', t.noRole);
        await put(`${path}/roles`, { roles: chosen });
        return t.rolesSaved;
      }),
    );

    // Grants.
    const grants = h('ul', { class: 'grants' });
    const drawGrants = (): void => {
      replace(
        grants,
        u.collections.length
          ? u.collections.map((c) =>
              h(
                'li',
                null,
                h('span', { class: 'grant-name' }, c),
                ' ',
                button(
                  t.withdraw(c),
                  act(async () => {
                    await del(`${path}/grants/${encodeURIComponent(c)}`);
                    u.collections = u.collections.filter((x) => x !== c);
                    drawGrants();
                    return t.withdrawn(c);
                  }),
                  'secondary small',
                ),
              ),
            )
          : h('li', { class: 'empty' }, t.noGrant),
      );
    };
    drawGrants();
    const pick = h('select', { id: uid('grant') }, collections.map((c) => h('option', { value: c }, c)));
    const grantButton = button(
      t.grant,
      act(async () => {
        const c = pick.value;
        if (!c) return;
        await post(`${path}/grants`, { collection: c });
        if (!u.collections.includes(c)) u.collections = [...u.collections, c].sort();
        drawGrants();
        return t.granted(c);
      }),
    );

    // Keys.
    const keys = h('ul', { class: 'keys' });
    const fresh = h('div');
    const loadKeys = async (): Promise<void> => {
      const { items } = await get<Keys>(`${path}/keys`);
      if (!ctx.live()) return;
      replace(
        keys,
        items.length
          ? items.map((k) =>
              h(
                'li',
                { 'data-prefix': k.prefix, class: k.revoked_at ? 'revoked' : null },
                h('code', null, `gbk_${k.prefix}_…`),
                ` ${t.keyIssued(dateTime(k.created_at))}`,
                k.revoked_at
                  ? `, ${t.keyRevoked(dateTime(k.revoked_at))}`
                  : [
                      ' ',
                      button(
                        t.revoke(k.prefix),
                        act(async () => {
                          await del(`${path}/keys/${encodeURIComponent(k.prefix)}`);
                          await loadKeys();
                          return t.revoked(k.prefix);
                        }),
                        'secondary small',
                      ),
                    ],
              ),
            )
          : h('li', { class: 'empty' }, t.noKey),
      );
    };
    void loadKeys().catch(failed);
    const issue = button(
      t.issue,
      act(async () => {
        const r = await post<NewKey>(`${path}/keys`, {});
        replace(fresh, keyOnce(r.key));
        await loadKeys();
      }),
    );

    // Web password.
    const password = h('input', { type: 'password', autocomplete: 'new-password', minlength: 12 });
    const setPassword = button(
      t.setPassword,
      act(async () => {
        await put(`${path}/password`, { password: password.value });
        password.value = '';
        return t.passwordSet;
      }),
    );

    // Disable (two steps).
    const disableArea = h('div', { class: 'actions' });
    const self = u.name === ctx.me.name;
    const askDisable = (): void => {
      const confirm = button(
        t.disableConfirm(u.name),
        act(async () => {
          await del(path);
          card.replaceWith(h('p', { class: 'status' }, t.disabled(u.name)));
        }),
        'danger',
      );
      replace(disableArea, h('p', { class: 'hint' }, t.disableWarning(u.name)), confirm);
      confirm.focus();
    };
    const disable = button(t.disable, askDisable, 'secondary danger-outline');
    disable.disabled = self;
    replace(disableArea, disable);

    const card = h(
      'section',
      { class: 'card user', 'data-user': u.name, 'aria-labelledby': headingId },
      h('h2', { id: headingId }, u.name, self ? h('span', { class: 'hint' }, ` (${t.you})`) : null),
      h('div', { class: 'user-grid' },
        h('div', null, roles.el, saveRoles),
        h('div', null, h('h3', null, t.grants), grants, collections.length ? h('div', { class: 'inline-form' }, field(t.grantWhich, pick), grantButton) : null),
        h('div', null, h('h3', null, t.keys), keys, h('div', { class: 'actions' }, issue), fresh),
        h('div', null, h('h3', null, t.password), field(t.password, password, t.passwordHint), setPassword, disableArea),
      ),
      said,
      cardAlert.el,
    );
    return card;
  }

  // A new user.
  const formAlert = new Alert();
  const formSaid = status();
  const name = h('input', { name: 'name', autocomplete: 'off', maxlength: 64, required: true });
  const newRoles = roleChoice(t.roles, []);
  const created = h('div');
  const form = h(
    'form',
    { class: 'card new-user' },
    h('h2', null, t.newUser),
    field(t.name, name, t.nameHint),
    newRoles.el,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t.create)),
    formSaid,
    formAlert.el,
    created,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    formAlert.clear();
    clearInvalid(form);
    formSaid.textContent = '';
    const chosen = newRoles.chosen();
    if (!chosen.length) {
      formAlert.show(t.noRole);
      return;
    }
    try {
      const r = await post<NewKey>('/users', { name: name.value.trim(), roles: chosen });
      if (!ctx.live()) return;
      formSaid.textContent = t.created(r.name);
      replace(created, keyOnce(r.key));
      name.value = '';
      await load();
    } catch (err) {
      formAlert.show(errorText(err, m().admin.failed));
      markInvalid(form, formAlert, fieldOf(err));
    }
  });

  void load();
  return h('section', { class: 'admin' }, h('h1', null, t.title), h('p', { class: 'lede' }, t.lede), alert.el, form, list);
}

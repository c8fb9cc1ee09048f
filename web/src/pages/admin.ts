// #/admin: users, their roles, grants and API keys (admin).

import type { Ctx } from '../app';
import { h } from '../dom';
import { m } from '../i18n';

export function adminPage(_ctx: Ctx): HTMLElement {
  return h('section', null, h('h1', null, m().common.nav.admin));
}

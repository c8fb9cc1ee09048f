// The logged-in user, roles and navigation shared by the pages.

import type { Me, Role } from './api';
import { m } from './i18n';

export interface Ctx {
  me: Me;
  /** Whether the user holds a role. */
  can: (role: Role) => boolean;
  /** Goes to a route (`#/…`). */
  go: (hash: string) => void;
  /** False once the user has left the page that received this context (late answers are dropped). */
  live: () => boolean;
}

/** The pages in the navigation, each for the roles that may use it. */
export const PAGES: { hash: string; label: () => string; roles: Role[] | 'all' }[] = [
  { hash: '#/search', label: () => m().common.nav.search, roles: ['investigator'] },
  { hash: '#/cases', label: () => m().common.nav.cases, roles: ['investigator'] },
  { hash: '#/review', label: () => m().common.nav.review, roles: ['reviewer'] },
  { hash: '#/collections', label: () => m().common.nav.collections, roles: 'all' },
  { hash: '#/rights', label: () => m().common.nav.rights, roles: ['dpo'] },
  { hash: '#/audit', label: () => m().common.nav.audit, roles: ['dpo'] },
  { hash: '#/admin', label: () => m().common.nav.admin, roles: ['admin'] },
];

/** The roles that may see and correct a collection's people (the server's `People` action). */
export const PEOPLE_ROLES: Role[] = ['curator', 'investigator', 'dpo'];

export function allowed(me: Me, roles: Role[] | 'all'): boolean {
  return roles === 'all' || roles.some((r) => me.roles.includes(r));
}

/** Where a user lands after logging in. */
export function home(me: Me): string {
  if (me.roles.includes('investigator')) return '#/search';
  if (me.roles.includes('dpo')) return '#/rights';
  if (me.roles.includes('reviewer')) return '#/review';
  if (me.roles.includes('admin')) return '#/admin';
  return '#/collections';
}

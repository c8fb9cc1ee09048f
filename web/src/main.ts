// Gabarit's web UI: a hash-routed single page over the HTTP API (#/search, #/collections…),
// in English or French (the browser's language, or the user's choice).

import './style.css';
import { ApiError, csrf, get, loadVocabulary, request, whenUnauthenticated, type CurrentSession, type Me, type Role } from './api';
import { PAGES, PEOPLE_ROLES, allowed, home, type Ctx } from './app';
import { Alert, h, replace } from './dom';
import { lang, m, setLang } from './i18n';
import { adminPage } from './pages/admin';
import { auditPage } from './pages/audit';
import { casesPage } from './pages/cases';
import { collectionPage, collectionsPage } from './pages/collections';
import { loginPage } from './pages/login';
import { peoplePage, personPage } from './pages/people';
import { reviewListPage, reviewPage } from './pages/review';
import { rightsPage, rightsRequestPage } from './pages/rights';
import { searchPage } from './pages/search';

type Render = (ctx: Ctx, params: string[]) => HTMLElement;

/** Routes: a pattern over the hash's path segments, the roles allowed, the page. */
const ROUTES: { path: RegExp; roles: Parameters<typeof allowed>[1]; render: Render }[] = [
  { path: /^search$/, roles: ['investigator'], render: searchPage },
  { path: /^cases$/, roles: ['investigator'], render: casesPage },
  { path: /^review$/, roles: ['reviewer'], render: reviewListPage },
  { path: /^review\/(\d+)$/, roles: ['reviewer'], render: reviewPage },
  { path: /^collections$/, roles: 'all', render: collectionsPage },
  { path: /^collections\/([^/]+)$/, roles: 'all', render: collectionPage },
  { path: /^collections\/([^/]+)\/people$/, roles: PEOPLE_ROLES, render: peoplePage },
  { path: /^people\/(\d+)$/, roles: PEOPLE_ROLES, render: personPage },
  { path: /^rights$/, roles: ['dpo'], render: rightsPage },
  { path: /^rights\/(\d+)$/, roles: ['dpo'], render: rightsRequestPage },
  { path: /^audit$/, roles: ['dpo'], render: auditPage },
  { path: /^admin$/, roles: ['admin'], render: adminPage },
];

const app = document.getElementById('app')!;
let me: Me | null = null;
const WANTED_KEY = 'gabarit.wanted';
/** Where to go after logging in (the page asked for while logged out). */
let wanted: string | null = sessionStorage.getItem(WANTED_KEY);
sessionStorage.removeItem(WANTED_KEY);
/** Increases on every navigation: pages drop answers that arrive after the user left. */
let generation = 0;

const main = h('main', { id: 'main', tabindex: '-1' });
const nav = h('nav');
const who = h('div', { class: 'who' });
const skip = h('a', { class: 'skip-link', href: '#main', onclick: (e: Event) => { e.preventDefault(); focusMain(); } });
const langSwitch = h('button', { type: 'button', class: 'lang-switch secondary', onclick: switchLanguage });
const header = h('header', { class: 'top' }, h('a', { class: 'brand', href: '#/' }, 'Gabarit'), nav, who, langSwitch);
replace(app, skip, header, main);

function focusMain(): void {
  const heading = main.querySelector('h1');
  (heading ?? main).setAttribute('tabindex', '-1');
  (heading ?? main).focus();
}

function hashPath(): string {
  return location.hash.replace(/^#\/?/, '').split('?')[0] ?? '';
}

function roleNames(roles: Role[]): string {
  return roles.map((r) => m().common.roleNames[r] ?? r).join(', ');
}

function renderChrome(): void {
  const t = m().common;
  skip.textContent = t.skip;
  nav.setAttribute('aria-label', t.mainNav);
  langSwitch.textContent = t.switchTo;
  langSwitch.setAttribute('aria-label', t.switchToLabel);
  langSwitch.setAttribute('lang', lang() === 'fr' ? 'en' : 'fr');
  if (!me) {
    replace(nav);
    replace(who);
    header.classList.add('logged-out');
    return;
  }
  header.classList.remove('logged-out');
  const current = `#/${hashPath().split('/')[0]}`;
  const user = me;
  replace(
    nav,
    h(
      'ul',
      null,
      PAGES.filter((p) => allowed(user, p.roles)).map((p) =>
        h('li', null, h('a', { href: p.hash, 'aria-current': p.hash === current ? 'page' : null }, p.label())),
      ),
    ),
  );
  replace(
    who,
    h('span', { id: 'who-am-i' }, `${t.loggedInAs} `, h('strong', null, user.name), ` (${roleNames(user.roles)})`),
    h('button', { type: 'button', class: 'secondary', onclick: logout }, t.logOut),
  );
}

function switchLanguage(): void {
  setLang(lang() === 'fr' ? 'en' : 'fr');
  route();
}

async function logout(): Promise<void> {
  try {
    await request('DELETE', '/session');
  } catch {
    // The session may already be over: logging out locally is what matters.
  }
  restart();
}

/**
 * Ends the session in this tab with a fresh page load: the next user of the browser starts
 * with nothing of this one's in memory (a document keeps the images it showed, whatever
 * their cache headers say). `then` is where to go after the next login.
 */
function restart(then?: string): void {
  me = null;
  csrf.clear();
  if (then) sessionStorage.setItem(WANTED_KEY, then);
  location.assign('/');
}

whenUnauthenticated(() => {
  if (me) restart(location.hash);
});

function route(): void {
  generation += 1;
  const mine = generation;
  const path = hashPath();
  const t = m().common;
  if (!me) {
    if (path !== 'login') {
      if (path) wanted = `#/${path}${location.hash.includes('?') ? location.hash.slice(location.hash.indexOf('?')) : ''}`;
      location.hash = '#/login';
      return;
    }
    renderChrome();
    document.title = `${t.login.title} · Gabarit`;
    replace(main, loginPage(onLogin));
    focusMain();
    return;
  }
  if (path === '' || path === 'login') {
    location.hash = home(me);
    return;
  }
  renderChrome();
  const user = me;
  const ctx: Ctx = {
    me: user,
    can: (role) => user.roles.includes(role),
    go: (hash) => {
      location.hash = hash;
    },
    live: () => mine === generation,
  };
  for (const r of ROUTES) {
    const match = r.path.exec(path);
    if (!match) continue;
    if (!allowed(user, r.roles)) {
      replace(main, forbidden(r.roles));
    } else {
      const params = match.slice(1).map((s) => decodeURIComponent(s));
      replace(main, r.render(ctx, params));
    }
    const h1 = main.querySelector('h1');
    document.title = `${h1?.textContent ?? 'Gabarit'} · Gabarit`;
    focusMain();
    return;
  }
  replace(main, h('h1', null, t.pageNotFound), h('p', null, h('a', { href: home(user) }, t.backToStart)));
  focusMain();
}

function forbidden(roles: Parameters<typeof allowed>[1]): HTMLElement {
  const t = m().common;
  const alert = new Alert();
  alert.show(t.forbidden(roles === 'all' ? '' : roles.map((r) => t.roleNames[r]).join(` ${t.or} `), me?.name ?? ''));
  return h('section', null, h('h1', null, t.notAvailable), alert.el);
}

async function onLogin(): Promise<void> {
  me = await get<Me>('/me');
  await loadVocabulary();
  const target = wanted && !wanted.startsWith('#/login') ? wanted : home(me);
  wanted = null;
  if (location.hash === target) route();
  else location.hash = target;
}

async function start(): Promise<void> {
  // A tab without the session's CSRF token asks the server for the browser's session (a new
  // tab, a review link opened by a logged-in reviewer); another site cannot read the answer.
  try {
    if (!csrf.get()) {
      const { session } = await get<CurrentSession>('/session');
      if (session) csrf.set(session.csrf);
    }
    if (csrf.get()) {
      me = await get<Me>('/me');
      await loadVocabulary();
    }
  } catch (e) {
    me = null;
    csrf.clear();
    if (!(e instanceof ApiError)) throw e;
  }
  window.addEventListener('hashchange', route);
  route();
}

void start();

// A candidate's review state in words, the same on the search page's dialog and the
// reviewers' pages.

import type { ReviewState } from './api';
import { h, type Child } from './dom';
import { m } from './i18n';

/** The reviewers' link to a candidate (usable after logging in as a reviewer). */
export function reviewLink(candidateId: number): string {
  return `#/review/${candidateId}`;
}

/** Who decided a candidate so far, in a few words ("Confirmed by rita", "Not reviewed yet"). */
export function reviewSummary(s: ReviewState): string {
  const t = m().review;
  const { confirmed_by: yes, rejected_by: no } = s.candidate;
  if (no.length > 0) return t.rejectedBy(no.join(', '));
  if (s.confirmed) return t.confirmedBy(yes.join(', '));
  if (yes.length > 0) return t.confirmedWaiting(yes.join(', '));
  return t.notReviewed;
}

/**
 * The review state as a verdict and its detail (who confirmed, who rejected, what `me`'s own
 * decision counts for); `withCase` names the case and the candidate first.
 */
export function verdict(s: ReviewState, me: string, withCase = false): Child[] {
  const t = m().review;
  const { confirmed_by: yes, rejected_by: no } = s.candidate;
  let text: string;
  if (no.length > 0) text = t.verdictRejected(no.join(', '));
  else if (s.confirmed) text = t.verdictConfirmed(yes.join(', '));
  else if (yes.length === 1) text = t.verdictOne(yes[0]!);
  else text = t.verdictNone;
  const yours = yes.includes(me) ? t.youConfirmed : no.includes(me) ? t.youRejected : '';
  const nobody = m().common.nobody;
  const which = withCase ? t.caseAndCandidate(s.candidate.case_ref, s.candidate.id) : '';
  return [
    h('strong', { class: 'review-verdict' }, text),
    h('span', { class: 'review-detail' }, `${which}${t.detail(yes.length ? yes.join(', ') : nobody, no.length ? no.join(', ') : nobody)}${yours}`),
  ];
}

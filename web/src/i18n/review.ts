// The reviewers' pages (queue, candidate) and the investigator's cases.

export const en = {};

export const fr: typeof en = {};

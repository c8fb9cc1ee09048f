// The search pages' messages.

export const en = {};

export const fr: typeof en = {};

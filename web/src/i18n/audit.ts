// The audit pages' messages.

export const en = {};

export const fr: typeof en = {};

/** @woodwork/runtime: public surface. */
export const packageName = "@woodwork/runtime";

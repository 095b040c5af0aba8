/** @woodwork/metrics: public surface. */
export const packageName = "@woodwork/metrics";

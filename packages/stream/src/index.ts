/** @woodwork/stream: public surface. */
export const packageName = "@woodwork/stream";

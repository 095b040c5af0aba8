/** @woodwork/bus: public surface. */
export const packageName = "@woodwork/bus";

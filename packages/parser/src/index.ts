export const packageName = "@woodwork/parser";

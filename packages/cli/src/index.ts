export const packageName = "@woodwork/cli";

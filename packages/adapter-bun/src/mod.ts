export * from "@uniws/core";

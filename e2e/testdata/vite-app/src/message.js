export const message = "vite-app v1";

// ESLint for the CDK app: scripts/lint runs it, `scripts/lint --fix` applies its fixes.
// ESLint's recommended rules, and typescript-eslint's recommended rules with type information
// (tsconfig.json through the project service): no-floating-promises, no-misused-promises,
// await-thenable, the no-unsafe-* family (no `any` leaking into typed code), and so on.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["node_modules/", "cdk.out/", "cdk.out.*/", "**/*.js", "**/*.d.ts"] },
  js.configs.recommended,
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // A switch over a union handles every member, so a new member cannot slip through.
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      eqeqeq: ["error", "always"],
    },
  },
);

// Lint that keeps the layout a picture of the architecture (README, "How it works"): no import cycles, the domain
// below HTTP, and the product's code never reaching into the tools that test or measure it.
import importX, { createNodeResolver } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

const TOOLS = {
  group: ["**/tests/**", "**/local/**", "**/bench/**", "**/harness/**"],
  message: "shared/ is the product: it never imports the tools that run or measure it.",
};
const DOMAIN = ["shared/trips/**", "shared/drivers/**", "shared/events/**", "shared/clients/**", "shared/cloudevents/**"];

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", ".local/**", "loadtests/**", "bench/results/**", "**/*.js", "**/*.mjs"] },
  {
    files: ["**/*.ts"],
    extends: [tseslint.configs.recommended, importX.flatConfigs.typescript],
    plugins: { "import-x": importX },
    settings: { "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".json"] })] },
    rules: {
      "import-x/no-cycle": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
    },
  },
  {
    // Tests read YAML, JSON Schemas and raw answers, which have no type until they are checked.
    files: ["tests/**/*.ts", "**/*.test.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    files: ["shared/**/*.ts"],
    ignores: ["shared/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [TOOLS],
        },
      ],
    },
  },
  {
    files: DOMAIN,
    ignores: ["shared/**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            TOOLS,
            {
              group: ["**/http/**", "hono", "hono/*"],
              message: "The domain stays below HTTP: throw a shared/errors.ts or clients/dependency.ts error and let shared/http map it.",
            },
          ],
        },
      ],
    },
  },
);

/** Stylesheets imported for their side effect: esbuild bundles them into app-HASH.css. */
declare module '*.css';

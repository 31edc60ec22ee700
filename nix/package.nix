# Portico as a Nix package: buildNpmPackage with the dependencies taken from package-lock.json's
# integrity hashes (importNpmLock), so that no npmDepsHash has to be kept in step by hand.
{ lib, buildNpmPackage, importNpmLock, nodejs_22 }:

let
  packageJson = lib.importJSON ../package.json;
in
buildNpmPackage {
  pname = "portico";
  inherit (packageJson) version;
  nodejs = nodejs_22;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../tsconfig.build.json
      ../src
      ../bin
      ../scripts
      ../docs
      ../examples
    ];
  };

  npmDeps = importNpmLock { npmRoot = ../.; };
  npmConfigHook = importNpmLock.npmConfigHook;

  # `npm run build`: tsc, then the JSON Schema for editors.
  npmBuildScript = "build";

  meta = {
    description = "An API gateway for Node.js configured as code: nginx's locations, TypeScript hooks where OpenResty runs Lua";
    license = lib.licenses.mit;
    mainProgram = "portico";
    platforms = lib.platforms.linux ++ lib.platforms.darwin;
  };
}

# For users without flakes: `nix-build` builds the package; the module is ./nix/module.nix.
{ pkgs ? import <nixpkgs> { } }:
pkgs.callPackage ./nix/package.nix { }

{
  description = "Portico: an API gateway for Node.js configured as code";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        portico = pkgs.callPackage ./nix/package.nix { };
        default = portico;
      });

      overlays.default = final: _prev: { portico = final.callPackage ./nix/package.nix { }; };

      nixosModules.default = { pkgs, ... }: {
        imports = [ ./nix/module.nix ];
        # mkPackageOption finds pkgs.portico: provide it when the system's nixpkgs has none.
        nixpkgs.overlays = [ self.overlays.default ];
      };

      checks = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (system: {
        reference = import ./nix/tests/reference.nix { pkgs = nixpkgs.legacyPackages.${system}; inherit self; };
      });
    };
}

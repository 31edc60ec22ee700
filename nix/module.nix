# services.portico: the Portico API gateway as a NixOS service, in the style of RFC 42 and
# nixpkgs' service modules. `settings` is Portico's config (docs/configuration.md) written in Nix,
# serialised to JSON; hooks and files it names as Nix paths are copied to the store.
{ config, lib, pkgs, ... }:

let
  inherit (lib) literalExpression mkEnableOption mkIf mkOption mkPackageOption optional types;

  cfg = config.services.portico;
  format = pkgs.formats.json { };

  # A hook: a Nix path (copied to the store, e.g. ./post-created.js) or a string (a module path or an inline snippet).
  hookType = types.either types.path types.str;

  listenType = types.oneOf [
    types.port
    types.str
    (types.submodule {
      freeformType = format.type;
      options = {
        addr = mkOption { type = types.nullOr types.str; default = null; description = "Address to bind; null for every address."; };
        port = mkOption { type = types.port; description = "Port to listen on."; };
        ssl = mkOption { type = types.bool; default = false; description = "Terminate TLS on this listener."; };
      };
    })
  ];

  locationType = types.submodule {
    freeformType = format.type;
    options = {
      proxyPass = mkOption { type = types.nullOr types.str; default = null; example = "http://127.0.0.1:9000/"; description = "Upstream URL, as nginx's proxy_pass."; };
      return = mkOption { type = types.nullOr (types.either types.int types.str); default = null; example = "200 'Hello World!'"; description = "Answer directly, as nginx's return."; };
    } // lib.genAttrs [ "rewrite" "access" "content" "headerFilter" "bodyFilter" "log" ] (phase: mkOption {
      type = types.nullOr hookType;
      default = null;
      description = "The ${phase} hook: a path to a JavaScript/TypeScript module (taken from the Nix store) or an inline snippet.";
    });
  };

  virtualHostType = types.submodule ({ name, ... }: {
    freeformType = format.type;
    options = {
      default = mkOption { type = types.bool; default = false; description = "Answer requests whose Host matches no other virtual host."; };
      serverName = mkOption { type = types.nullOr types.str; default = null; description = "Primary server name; the attribute name (${name}) when null."; };
      serverAliases = mkOption { type = types.listOf types.str; default = [ ]; description = "More names for this virtual host."; };
      locations = mkOption { type = types.attrsOf locationType; default = { }; description = "Locations by nginx key: \"/prefix\", \"= /exact\", \"^~ /prefix\", \"~ regex\", \"~* regex\"."; };
    };
  });

  # Drop the nulls of unset typed options so that the JSON is what a user would write by hand.
  clean = value:
    if builtins.isAttrs value && !(lib.isDerivation value) then lib.mapAttrs (_: clean) (lib.filterAttrs (_: v: v != null && v != [ ]) value)
    else if builtins.isList value then map clean value
    else if builtins.isPath value then "${value}"
    else value;

  settingsJson = clean (cfg.settings // lib.optionalAttrs (cfg.workers != null) { workers = cfg.workers; });
  configFile = format.generate "portico.json" settingsJson;

  listenPorts = lib.concatMap
    (entry:
      if builtins.isInt entry then [ entry ]
      else if builtins.isAttrs entry then [ entry.port ]
      else let m = builtins.match ".*:([0-9]+)" entry; in if m == null then (if builtins.match "[0-9]+" entry != null then [ (lib.toInt entry) ] else [ ]) else [ (lib.toInt (builtins.head m)) ])
    (lib.toList cfg.settings.listen);
in
{
  options.services.portico = {
    enable = mkEnableOption "Portico, an API gateway configured as code";

    package = mkPackageOption pkgs "portico" { };

    settings = mkOption {
      description = ''
        Portico's configuration (see its docs/configuration.md), serialised to JSON. Secrets do
        not belong here (the Nix store is world-readable): use the `*File` form of a secret
        field (for example `clientSecretFile`) or `''${env:NAME}` with {option}`environmentFile`.
      '';
      default = { };
      example = literalExpression ''
        {
          listen = 80;
          virtualHosts."localhost" = {
            default = true;
            locations."/".return = "200 'Hello World!'";
            locations."/proxy".proxyPass = "http://127.0.0.1:9000/";
            locations."/proxy/rewrite" = { proxyPass = "http://127.0.0.1:9000/"; headerFilter = ./post-created.js; };
          };
        }
      '';
      type = types.submodule {
        freeformType = format.type;
        options = {
          listen = mkOption { type = types.either listenType (types.listOf listenType); default = 80; description = "Port, \"host:port\", or a list of them; `{ addr, port, ssl }` as in services.nginx."; };
          virtualHosts = mkOption { type = types.attrsOf virtualHostType; default = { }; description = "Virtual hosts by name (nginx server blocks)."; };
        };
      };
    };

    workers = mkOption {
      type = types.nullOr (types.either (types.enum [ "auto" ]) types.ints.positive);
      default = null;
      example = "auto";
      description = "Worker processes sharing the listeners (\"auto\": one per CPU); null keeps Portico's default of one process.";
    };

    environmentFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/portico.env";
      description = "A file of NAME=value lines (systemd's EnvironmentFile), for `\${env:NAME}` in the settings; kept out of the store.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the TCP ports Portico listens on in the firewall.";
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = configFile;
      defaultText = literalExpression "generated from services.portico.settings";
      description = "The generated config file (read-only; for `portico check` in a build step).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.settings.virtualHosts != { };
        message = "services.portico.settings.virtualHosts must define at least one virtual host.";
      }
    ];

    # A stable path: a change of settings changes this file, not the unit, so the service reloads.
    environment.etc."portico/portico.json".source = configFile;

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall listenPorts;

    systemd.services.portico = {
      description = "Portico API gateway";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      # Only the settings changed: SIGHUP, which Portico answers by reloading with no dropped request.
      reloadTriggers = [ configFile ];
      environment = {
        NODE_ENV = "production";
        PORTICO_LOG_LEVEL = "info";
      };
      serviceConfig = {
        Type = "simple";
        ExecStart = "${lib.getExe cfg.package} start -c /etc/portico/portico.json";
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        Restart = "on-failure";
        RestartSec = "2s";
        # Portico drains in-flight requests on SIGTERM within its shutdownTimeout (10s by default).
        TimeoutStopSec = "30s";
        EnvironmentFile = optional (cfg.environmentFile != null) cfg.environmentFile;

        DynamicUser = true;
        StateDirectory = "portico";
        RuntimeDirectory = "portico";
        WorkingDirectory = "/var/lib/portico";
        UMask = "0077";

        # Bind 80/443 without root, and nothing else.
        AmbientCapabilities = [ "CAP_NET_BIND_SERVICE" ];
        CapabilityBoundingSet = [ "CAP_NET_BIND_SERVICE" ];
        NoNewPrivileges = true;

        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateMounts = true;
        PrivateDevices = true;
        DevicePolicy = "closed";
        ProtectHostname = true;
        ProtectClock = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        KeyringMode = "private";
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        # What Node needs relaxed: V8's JIT writes and then executes code pages.
        MemoryDenyWriteExecute = false;
      };
    };
  };
}

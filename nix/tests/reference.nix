# NixOS VM test: boots services.portico with the reference setup and makes the four requests that
# were made by hand with curl against the OpenResty VM. httpbin runs in the VM (no internet).
{ pkgs, self }:

pkgs.testers.runNixOSTest {
  name = "portico-reference";

  nodes.machine = { pkgs, ... }: {
    imports = [ self.nixosModules.default ];

    systemd.services.httpbin = {
      wantedBy = [ "multi-user.target" ];
      serviceConfig.ExecStart = "${pkgs.python3.withPackages (ps: [ ps.httpbin ps.gunicorn ])}/bin/gunicorn -b 127.0.0.1:9000 httpbin:app";
    };

    services.portico = {
      enable = true;
      settings = {
        listen = 80;
        virtualHosts."localhost" = {
          default = true;
          locations."/".return = "200 'Hello World!'";
          locations."/version" = {
            defaultType = "application/json";
            content = ../../examples/reference/version.js;
          };
          locations."/proxy".proxyPass = "http://127.0.0.1:9000/";
          locations."/proxy/rewrite" = {
            proxyPass = "http://127.0.0.1:9000/";
            headerFilter = ../../examples/reference/post-created.js;
          };
        };
      };
    };
    environment.systemPackages = [ pkgs.curl ];
  };

  testScript = ''
    machine.wait_for_unit("httpbin.service")
    machine.wait_for_unit("portico.service")
    machine.wait_for_open_port(80)
    machine.wait_for_open_port(9000)

    out = machine.succeed("curl -si http://localhost/")
    assert "200 OK" in out and out.endswith("Hello World!"), out
    assert "content-type: application/octet-stream" in out.lower(), out

    out = machine.succeed("curl -s http://localhost/version")
    assert out == '{"version":"0.0.1"}\n', out

    out = machine.succeed("curl -s http://localhost/proxy/anything/hello/world")
    assert '"url": "http://127.0.0.1:9000//anything/hello/world"' in out or "/anything/hello/world" in out, out

    status = machine.succeed("curl -s -o /dev/null -w '%{http_code}' -X POST http://localhost/proxy/rewrite/anything")
    assert status == "201", status

    # A settings change reloads (SIGHUP) instead of restarting: the main PID stays.
    pid = machine.succeed("systemctl show -p MainPID --value portico").strip()
    machine.succeed("systemctl reload portico")
    machine.succeed("curl -sf http://localhost/")
    assert machine.succeed("systemctl show -p MainPID --value portico").strip() == pid
  '';
}

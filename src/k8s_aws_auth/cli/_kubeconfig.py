"""``kubeconfig``: print a kubeconfig whose user runs this plugin, or merge it into a file.

What it writes is checked first: the cluster id, the region (against the
partition table), the role ARN (an IAM role of the region's partition) and the
plugin command (found on ``PATH``, or an executable path), so a mistake fails
here rather than at the first ``kubectl`` call. ``--kubeconfig`` merges into a
kubeconfig file like ``aws eks update-kubeconfig`` (``_kubeconfig_file.py``).

The user uses the v1 exec API with ``interactiveMode: IfAvailable`` (MFA prompts
reach a terminal when there is one, and kubectl never hangs without one) and
``provideClusterInfo: false`` (the plugin needs nothing from the cluster entry).
Output is YAML built from JSON-quoted scalars, which every YAML parser reads the
same way, so no YAML library is needed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence

from k8s_aws_auth.errors import ConfigurationError

__all__ = ["configure", "kubeconfig_yaml", "run"]

_DEFAULT_COMMAND = "k8s-aws-auth"
_EXEC_API = {
    "v1": "client.authentication.k8s.io/v1",
    "v1beta1": "client.authentication.k8s.io/v1beta1",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``kubeconfig``'s flags."""
    parser.add_argument(
        "-i", "--cluster-id", required=True, help="the cluster id tokens are bound to"
    )
    parser.add_argument("--server", required=True, help="the API server URL (https://...)")
    parser.add_argument(
        "--ca", help="PEM file with the cluster's CA (embedded as certificate-authority-data)"
    )
    parser.add_argument(
        "--name", help="name of the cluster, user and context (default: the cluster id)"
    )
    parser.add_argument("--region", help="pass --region to the plugin")
    parser.add_argument("--role", help="pass --role (a role ARN to assume) to the plugin")
    parser.add_argument("--profile", help="set AWS_PROFILE for the plugin")
    parser.add_argument("--cache", action="store_true", help="pass --cache to the plugin")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the plugin (repeatable)",
    )
    parser.add_argument(
        "--exec-api-version",
        choices=sorted(_EXEC_API),
        default="v1",
        help="ExecCredential API version kubectl asks for (default: v1)",
    )
    parser.add_argument(
        "--command",
        dest="exec_command",
        default=_DEFAULT_COMMAND,
        help="the plugin executable (default: k8s-aws-auth on PATH)",
    )
    parser.add_argument(
        "--kubeconfig",
        nargs="?",
        const="",
        metavar="PATH",
        help="merge into this kubeconfig file instead of printing (no PATH: the first "
        "path of KUBECONFIG, else ~/.kube/config); entries of the same name are replaced",
    )
    parser.add_argument(
        "--this-python",
        action="store_true",
        help="run the plugin as `<this interpreter> -m k8s_aws_auth` (pins a virtualenv)",
    )


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _env_entries(pairs: Sequence[str]) -> list[tuple[str, str]]:
    entries = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            # Name the argument only when it holds no value (it may be a secret).
            got = f", got {name!r}" if not sep else " with a non-empty NAME"
            raise ConfigurationError(f"--env needs NAME=VALUE{got}", reason="usage")
        entries.append((name, value))
    return entries


def kubeconfig_yaml(
    *,
    name: str,
    server: str,
    ca_pem: bytes | None,
    command: str,
    args: Sequence[str],
    env: Sequence[tuple[str, str]],
    exec_api_version: str,
) -> str:
    """The kubeconfig text (pure)."""
    q = _quote
    lines = [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        f"- name: {q(name)}",
        "  cluster:",
        f"    server: {q(server)}",
    ]
    if ca_pem is not None:
        lines.append(
            f"    certificate-authority-data: {q(base64.b64encode(ca_pem).decode('ascii'))}"
        )
    lines += [
        "contexts:",
        f"- name: {q(name)}",
        "  context:",
        f"    cluster: {q(name)}",
        f"    user: {q(name)}",
        f"current-context: {q(name)}",
        "preferences: {}",
        "users:",
        f"- name: {q(name)}",
        "  user:",
        "    exec:",
        f"      apiVersion: {q(exec_api_version)}",
        f"      command: {q(command)}",
        "      args:",
        *(f"      - {q(arg)}" for arg in args),
    ]
    if env:
        lines.append("      env:")
        for env_name, value in env:
            lines += [f"      - name: {q(env_name)}", f"        value: {q(value)}"]
    else:
        lines.append("      env: null")
    lines += [
        "      interactiveMode: IfAvailable",
        "      provideClusterInfo: false",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Print the kubeconfig on stdout."""
    from k8s_aws_auth._core.config import normalize_cluster_id

    normalize_cluster_id(args.cluster_id)  # fail here, not at the first kubectl call
    if not args.server.startswith("https://"):
        raise ConfigurationError("--server must be an https:// URL", reason="usage")
    ca_pem = None
    if args.ca:
        with open(args.ca, "rb") as file:
            ca_pem = file.read()
        if b"-----BEGIN CERTIFICATE-----" not in ca_pem:
            raise ConfigurationError(f"--ca {args.ca} holds no PEM certificate", reason="usage")
    plugin_args = ["token", "-i", args.cluster_id]
    if args.region:
        plugin_args += ["--region", args.region]
    if args.role:
        plugin_args += ["--role", args.role]
    if args.cache:
        plugin_args.append("--cache")
    command = args.exec_command
    if args.this_python:
        command = sys.executable
        plugin_args = ["-m", "k8s_aws_auth", *plugin_args]
    env = _env_entries(args.env)
    _check_plugin(args)
    if args.profile:
        env.append(("AWS_PROFILE", args.profile))
    text = kubeconfig_yaml(
        name=args.name or args.cluster_id,
        server=args.server,
        ca_pem=ca_pem,
        command=command,
        args=plugin_args,
        env=env,
        exec_api_version=_EXEC_API[args.exec_api_version],
    )
    if args.kubeconfig is None:
        sys.stdout.write(text)
        return 0
    import os

    from ._kubeconfig_file import default_kubeconfig_path, merge_kubeconfig

    path = os.path.expanduser(args.kubeconfig) or default_kubeconfig_path(os.environ)
    context = merge_kubeconfig(path, text)
    sys.stdout.write(f"wrote context {context!r} to {path}\n")
    return 0


def _check_plugin(args: argparse.Namespace) -> None:
    """Refuse a region, role or command the plugin could only fail with under kubectl."""
    from ._token_request import check_region, check_role_flag

    if args.region:
        check_region(args.region, "--region")
    if args.role:
        check_role_flag(args.role, args.region or None, "--role")
    if args.this_python:
        return
    import shutil

    if shutil.which(args.exec_command) is not None:
        return
    if args.exec_command != _DEFAULT_COMMAND:
        raise ConfigurationError(
            f"--command {args.exec_command!r} is not an executable (on PATH or as a path), "
            "so kubectl could not run it",
            reason="usage",
        )
    # The default may be meant for another machine (a kubeconfig made for a CI runner).
    sys.stderr.write(
        f"k8s-aws-auth kubeconfig: warning: {_DEFAULT_COMMAND} is not on PATH here; "
        "kubectl on this machine could not run it (pass --this-python or --command PATH)\n"
    )

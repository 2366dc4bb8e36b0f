#!/usr/bin/env python3
"""Checks that an OCI image archive is the image deploy/Dockerfile describes.

CI builds the image without Docker (buildah, .ci/image-check); people with Docker build
deploy/Dockerfile. This reads the Dockerfile's final stage on its own (no builder involved)
and compares what it declares -- user, entrypoint, cmd, exposed ports, labels, workdir, env,
stop signal -- with the config inside the archive, checks that the only layer holds nothing
but the binary, and that the labels agree with Cargo.toml. Any drift is an error.

    image_config.py --dockerfile deploy/Dockerfile --archive hookwall.tar \
        [--build-arg NAME=VALUE ...] [--cargo-toml Cargo.toml]
"""

import argparse
import json
import re
import shlex
import sys
import tarfile
import tomllib

# Builders may give an image without ENV this PATH (Docker does, buildah does not); with no
# shell in the image it changes nothing, so it is the one entry allowed beyond the Dockerfile's.
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Instructions of the final stage that do not change the config, or that this script compares.
CONFIG_INSTRUCTIONS = {"USER", "EXPOSE", "LABEL", "ENTRYPOINT", "CMD", "WORKDIR", "ENV", "STOPSIGNAL"}
CONTENT_INSTRUCTIONS = {"COPY", "ARG"}


def fail(message):
    print(f"image_config.py: {message}", file=sys.stderr)
    sys.exit(1)


def instructions(path):
    """(line number, INSTRUCTION, arguments) of a Dockerfile, continuations joined."""
    joined, start, result = "", 0, []
    with open(path, encoding="utf-8") as dockerfile:
        for number, line in enumerate(dockerfile, 1):
            stripped = line.strip()
            if not joined and (not stripped or stripped.startswith("#")):
                continue
            if joined and stripped.startswith("#"):
                continue  # comment lines inside a continuation are dropped, as Docker does
            if not joined:
                start = number
            if stripped.endswith("\\"):
                joined += stripped[:-1] + " "
                continue
            joined += stripped
            keyword, _, arguments = joined.partition(" ")
            result.append((start, keyword.upper(), arguments.strip()))
            joined = ""
    if joined:
        fail(f"{path}: line {start}: a continuation runs off the end of the file")
    return result


def substitute(text, variables):
    """$NAME and ${NAME} from the ARGs in scope, as Docker expands them in LABEL/ENV/USER..."""
    def value(match):
        name = match.group(1) or match.group(2)
        if name not in variables:
            fail(f"${name} is not an ARG in scope in the final stage")
        return variables[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


def pairs(arguments, variables, where):
    """KEY=VALUE pairs of LABEL or ENV, quotes removed."""
    result = {}
    for word in shlex.split(arguments):
        key, equals, value = word.partition("=")
        if not equals:
            fail(f"{where}: write KEY=VALUE ({word!r})")
        result[substitute(key, variables)] = substitute(value, variables)
    return result


def exec_form(arguments, where):
    try:
        words = json.loads(arguments)
    except json.JSONDecodeError:
        words = None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        fail(f"{where}: use the exec (JSON) form: an image with no shell cannot run the shell form")
    return words


def expected_config(dockerfile, build_args):
    """The config the Dockerfile's final stage declares, with Docker's semantics."""
    parsed = instructions(dockerfile)
    froms = [i for i, (_, keyword, _) in enumerate(parsed) if keyword == "FROM"]
    if not froms:
        fail(f"{dockerfile}: no FROM")
    global_args = {}
    for _, keyword, arguments in parsed[: froms[0]]:
        if keyword == "ARG":
            name, _, default = arguments.partition("=")
            global_args[name] = build_args.get(name, default)
    config = {"User": "", "ExposedPorts": {}, "Labels": {}, "Entrypoint": None, "Cmd": None,
              "WorkingDir": "", "Env": [], "StopSignal": ""}
    variables = {}
    base = parsed[froms[-1]][2]
    if base.split()[0] != "scratch":
        fail(f"{dockerfile}: the final stage is FROM {base}, not FROM scratch")
    for number, keyword, arguments in parsed[froms[-1] + 1:]:
        where = f"{dockerfile}: line {number}: {keyword}"
        if keyword == "ARG":
            name, equals, default = arguments.partition("=")
            variables[name] = build_args.get(name, default if equals else global_args.get(name, ""))
        elif keyword == "USER":
            config["User"] = substitute(arguments, variables)
        elif keyword == "EXPOSE":
            for port in substitute(arguments, variables).split():
                config["ExposedPorts"][port if "/" in port else f"{port}/tcp"] = {}
        elif keyword == "LABEL":
            config["Labels"].update(pairs(arguments, variables, where))
        elif keyword == "ENTRYPOINT":
            config["Entrypoint"] = exec_form(arguments, where)
        elif keyword == "CMD":
            config["Cmd"] = exec_form(arguments, where)
        elif keyword == "WORKDIR":
            config["WorkingDir"] = substitute(arguments, variables)
        elif keyword == "ENV":
            config["Env"] += [f"{k}={v}" for k, v in pairs(arguments, variables, where).items()]
        elif keyword == "STOPSIGNAL":
            config["StopSignal"] = substitute(arguments, variables)
        elif keyword not in CONTENT_INSTRUCTIONS:
            fail(f"{where}: this check does not know {keyword} yet; teach it before using it")
    return config


def archive_image(archive):
    """(config, [layer member names]) of the only image in an OCI archive."""
    with tarfile.open(archive) as tar:
        def blob(descriptor):
            algorithm, digest = descriptor["digest"].split(":", 1)
            return tar.extractfile(f"blobs/{algorithm}/{digest}")

        index = json.load(tar.extractfile("index.json"))
        if len(index["manifests"]) != 1:
            fail(f"{archive}: {len(index['manifests'])} images, expected one")
        manifest = json.load(blob(index["manifests"][0]))
        image = json.load(blob(manifest["config"]))
        layers = []
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=blob(layer), mode="r|*") as layer_tar:
                layers.append([(m.name, m.mode, m.uid, m.gid, m.isfile()) for m in layer_tar])
    return image, layers


def normalise(image_config):
    config = {key: image_config.get(key) for key in
              ("User", "ExposedPorts", "Labels", "Entrypoint", "Cmd", "WorkingDir", "Env", "StopSignal")}
    for key, empty in (("User", ""), ("ExposedPorts", {}), ("Labels", {}), ("WorkingDir", ""),
                       ("Env", []), ("StopSignal", "")):
        config[key] = config[key] or empty
    config["Env"] = [entry for entry in config["Env"] if entry != DEFAULT_PATH]
    return config


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", required=True)
    parser.add_argument("--archive", required=True)
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--cargo-toml")
    options = parser.parse_args()
    build_args = dict(arg.split("=", 1) for arg in options.build_arg)

    expected = expected_config(options.dockerfile, build_args)
    image, layers = archive_image(options.archive)
    actual = normalise(image.get("config", {}))
    errors = []
    for key in expected:
        mark = "ok" if expected[key] == actual[key] else "DIFFERS"
        if key == "Labels":
            print(f"  {key:<12} {mark}")
            for label, value in sorted(actual[key].items()):
                print(f"    {label}={value}")
        else:
            print(f"  {key:<12} {mark:<8} {json.dumps(actual[key])}")
        if mark != "ok":
            errors.append(f"{key}: {options.dockerfile} says {json.dumps(expected[key], sort_keys=True)}, "
                          f"the image has {json.dumps(actual[key], sort_keys=True)}")
    if (image.get("os"), image.get("architecture")) != ("linux", "amd64"):
        errors.append(f"platform is {image.get('os')}/{image.get('architecture')}, not linux/amd64")
    files = [entry for layer in layers for entry in layer if entry[0].strip("./")]
    if len(layers) != 1 or [(name.strip("./"), is_file) for name, _, _, _, is_file in files] != [("hookwall", True)]:
        errors.append(f"the image should be one layer holding only /hookwall; it has {layers}")
    elif (files[0][1] & 0o7777, files[0][2], files[0][3]) != (0o755, 0, 0):
        errors.append(f"/hookwall should be root-owned and 0755 (not writable by its user): {files[0]}")
    else:
        print("  layers       ok       one layer: /hookwall, root-owned, 0755")

    if options.cargo_toml:
        with open(options.cargo_toml, "rb") as cargo_toml:
            package = tomllib.load(cargo_toml)["package"]
        labels = actual["Labels"]
        for label, wanted in (("org.opencontainers.image.version", package["version"]),
                              ("org.opencontainers.image.licenses", package.get("license", "NOASSERTION"))):
            if labels.get(label) != wanted:
                errors.append(f"label {label} is {labels.get(label)!r}, Cargo.toml says {wanted!r}: "
                              f"update LABEL in {options.dockerfile}")
        if "repository" in package and labels.get("org.opencontainers.image.source") != package["repository"]:
            errors.append(f"label org.opencontainers.image.source is "
                          f"{labels.get('org.opencontainers.image.source')!r}, Cargo.toml's repository "
                          f"is {package['repository']!r}")
    if errors:
        fail("the image and the Dockerfile drifted apart:\n  " + "\n  ".join(errors))
    print(f"ok: the image's config is what {options.dockerfile} declares")


if __name__ == "__main__":
    main()

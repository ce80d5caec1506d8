"""``python -m distillrank``: the same command line as the ``distillrank`` script."""

from distillrank.cli.main import app

if __name__ == "__main__":
    app(prog_name="distillrank")

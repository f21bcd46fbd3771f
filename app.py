"""Entry point. `flask --app app …` uses `app`; `python app.py [--host H] [--port P]` runs the
demo."""

from dashboard import create_app

app = create_app()

if __name__ == "__main__":
    import sys

    from dashboard.demo import main

    sys.exit(main(app))

"""Entry point. `flask --app app …` uses `app`; `python app.py` runs the demo."""
from dashboard import create_app

app = create_app()

if __name__ == "__main__":
    from dashboard.demo import run_demo

    run_demo(app)

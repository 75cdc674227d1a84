"""The Gradio app: thin handlers over the library calls the CLI makes, run by one shared job runner."""

"""VAE Latent Explorer: `streamlit run app.py`. Navigation and the shared model picker."""

import streamlit as st

from pages.ui.picker import model_picker

st.set_page_config(page_title="VAE Latent Explorer", page_icon=":material/blur_on:", layout="wide")

pages = {
    "Explore": [
        st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
        st.Page("pages/map.py", title="Latent map", icon=":material/scatter_plot:", url_path="map"),
        st.Page("pages/interpolate.py", title="Interpolation", icon=":material/linear_scale:", url_path="interpolate"),
        st.Page("pages/compare.py", title="VAE vs AE", icon=":material/compare:", url_path="compare"),
        st.Page("pages/elbo.py", title="The ELBO's trade-off", icon=":material/balance:", url_path="elbo"),
    ],
    "Your data": [
        st.Page("pages/image.py", title="Your image", icon=":material/draw:", url_path="image"),
        st.Page("pages/anomaly.py", title="Anomaly detection", icon=":material/troubleshoot:", url_path="anomaly"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    ],
}
page = st.navigation(pages)
model_picker()
page.run()
